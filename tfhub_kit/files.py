"""Small file helpers every stage shares: atomic JSON writes and file hashes."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any


def write_json_atomic(path: Path, data: Any, *, strict: bool = False) -> None:
    """Write JSON to a temporary file beside `path`, then rename it into place. `strict`
    refuses NaN and Infinity (not JSON; `ValueError`) instead of writing them."""
    text = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=not strict) + "\n"
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
