"""The on-disk layout of a build, declared once: every stage finds its inputs here.

build/<publisher>/<model>/<version>/
  encoder/ preprocess/ embedding/   SavedModels (whichever the recipe exports)
  manifest.json                     written last by export; its presence marks a build
  validation.json results.json      validate / evaluate reports
  docs/ dist/                       tfhub.dev markdown; tarballs + SHA256SUMS
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfhub_kit.errors import BuildLayoutError

MANIFEST_FILE = "manifest.json"
SAVED_MODEL_FILE = "saved_model.pb"


@dataclass(frozen=True)
class BuildLayout:
    root: Path

    @classmethod
    def for_handle(cls, out_dir: str | Path, publisher: str, name: str, version: int) -> BuildLayout:
        return cls(Path(out_dir) / publisher / name / str(version))

    def saved_model(self, kind: str) -> Path:
        return self.root / kind

    @property
    def manifest_file(self) -> Path:
        return self.root / MANIFEST_FILE

    def read_manifest(self) -> dict[str, Any]:
        """The export manifest; raises `BuildLayoutError` if this is not a finished build."""
        if not self.manifest_file.is_file():
            raise BuildLayoutError(
                f"{self.root}: not a finished build (no {MANIFEST_FILE}); run `tfhub-kit export RECIPE_DIR` first"
            )
        manifest = json.loads(self.manifest_file.read_text())
        missing = [
            kind for kind in manifest["saved_models"] if not (self.saved_model(kind) / SAVED_MODEL_FILE).is_file()
        ]
        if missing:
            raise BuildLayoutError(
                f"{self.root}: the manifest lists SavedModels that are missing: {', '.join(missing)}"
            )
        return manifest


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to a temporary file beside `path`, then rename it into place."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    tmp.replace(path)
