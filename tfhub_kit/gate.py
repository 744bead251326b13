"""The release gate, held outside `release` too: `package` and `publish` refuse a build that
did not pass `validate` (or passed it before its SavedModels last changed), or that missed
a threshold of its recipe's `evaluate:` section. `--force` overrides, with a warning.

    problems = gate_problems(build_dir)        # [] when the build may ship
    check_gate(build_dir, force=False)         # raises GateError listing the problems
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tfhub_kit.errors import GateError
from tfhub_kit.evaluate import RESULTS_FILE
from tfhub_kit.layout import BuildLayout
from tfhub_kit.progress import logger
from tfhub_kit.validate import VALIDATION_FILE


def gate_problems(build_dir: str | Path) -> list[str]:
    """What keeps the build from shipping: validation missing, failed or stale; a recipe
    threshold unmeasured, missed or measured on older SavedModels."""
    layout = BuildLayout(Path(build_dir))
    manifest = layout.read_manifest()
    newest = max(
        (
            p.stat().st_mtime
            for kind in manifest.saved_models
            for p in layout.saved_model(kind).rglob("*")
            if p.is_file()
        ),
        default=0.0,
    )
    problems: list[str] = []
    validation = _read(layout.root / VALIDATION_FILE)
    where = f"run `tfhub-kit validate {layout.root}`"
    if validation is None:
        problems.append(f"no {VALIDATION_FILE}: {where}")
    elif validation is _UNREADABLE:
        problems.append(f"{VALIDATION_FILE} is not a JSON object: {where} again")
    elif not validation.get("ok"):
        problems.append(f"{VALIDATION_FILE} has {validation.get('failed', '?')} failed checks: fix them, then {where}")
    elif (layout.root / VALIDATION_FILE).stat().st_mtime < newest:
        problems.append(f"{VALIDATION_FILE} is older than the SavedModels: {where} again")
    thresholds = _thresholds(manifest.evaluate)
    results = _read(layout.root / RESULTS_FILE)
    where = f"run `tfhub-kit evaluate {layout.root}`"
    if results is None:
        if thresholds:
            problems.append(f"no {RESULTS_FILE} for the recipe's thresholds ({', '.join(thresholds)}): {where}")
    elif results is _UNREADABLE:
        problems.append(f"{RESULTS_FILE} is not a JSON object: {where} again")
    else:
        missed = [g for g in results.get("gates", []) if not g.get("passed")]
        problems += [f"{g['metric']} is {g['value']:.2f}, below the bar of {g['threshold']:.2f}" for g in missed]
        if (layout.root / RESULTS_FILE).stat().st_mtime < newest:
            problems.append(f"{RESULTS_FILE} is older than the SavedModels: {where} again")
    return problems


def check_gate(build_dir: str | Path, *, force: bool = False, warn: Callable[[str], None] | None = None) -> None:
    """Raise `GateError` if the build may not ship; with `force`, warn instead."""
    problems = gate_problems(build_dir)
    if not problems:
        return
    if not force:
        raise GateError(Path(build_dir), problems)
    for problem in problems:
        (warn or logger.warning)(f"WARNING (--force): {problem}")


def _thresholds(config: dict[str, Any]) -> list[str]:
    """Names of the thresholds set in the manifest's copy of the recipe's evaluate section."""
    found = []
    for section in ("sts", "bitext"):
        for item in config.get(section) or []:
            found += [f"{item.get('name')} {k}" for k, v in item.items() if k.startswith("min_") and v is not None]
    speed = config.get("speed") or {}
    found += [f"speed {k}" for k, v in speed.items() if k.startswith("min_") and v is not None]
    return found


_UNREADABLE: dict[str, Any] = {}
"""What `_read` returns for a file that is not a JSON object (compared by identity)."""


def _read(path: Path) -> dict[str, Any] | None:
    """The JSON object in `path`, None if there is no file, `_UNREADABLE` if it is not one."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return _UNREADABLE
    return data if isinstance(data, dict) else _UNREADABLE
