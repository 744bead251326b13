"""A training run on disk: its id, its report (`train.json`) and restoring its chosen checkpoint.

`tfhub-kit train` writes `build/<publisher>/<model>/runs/<run-id>/`; export reads it back
through this module (the two stages share the folder, not each other's code).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tfhub_kit.errors import BuildLayoutError, TrainError, first_line
from tfhub_kit.layout import ModelLayout
from tfhub_kit.progress import reporter
from tfhub_kit.recipe import Recipe

TRAIN_FILE = "train.json"


def run_id(recipe: Recipe) -> str:
    """`<name>-<hash>` of the settings that decide the trained weights (source, transforms,
    train, embedding pooling), leaving out fields at their defaults: the same recipe keeps
    its run (and resumes it) across kit versions that add optional fields."""
    settings = [recipe.source, recipe.transforms, recipe.train, recipe.export.embedding]
    if recipe.pretrain is not None:  # the corpus a masked-LM objective reads
        settings.append(recipe.pretrain)
    key = json.dumps(_without_defaults(settings), sort_keys=True, ensure_ascii=False)
    return f"{recipe.model.name}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def _without_defaults(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        out = {}
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            if item != default:
                out[f.name] = _without_defaults(item)
        return out
    if isinstance(value, (list, tuple)):
        return [_without_defaults(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _without_defaults(v) for k, v in value.items()}
    return value


def restore_trained(
    network: Any,
    recipe: Recipe,
    *,
    out_dir: str | Path = "build",
    heads: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Load the finished run's selected checkpoint (best, else last) into `network` (and
    `heads`, e.g. {"mlm_head": ...}); returns what the manifest records about the training."""
    import tensorflow as tf

    assert recipe.train is not None
    say = reporter(progress)
    run_dir = ModelLayout.for_recipe(out_dir, recipe).run(run_id(recipe))
    report_file = run_dir / TRAIN_FILE
    if not report_file.is_file():
        raise TrainError(
            f"{recipe.file}: this recipe trains its network, and no finished run is at {run_dir}; "
            f"run `tfhub-kit train {recipe.folder}` first"
        )
    try:
        report = json.loads(report_file.read_text(encoding="utf-8"))
        ckpts = report["checkpoints"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise BuildLayoutError(
            f"{report_file}: not a finished run's report ({type(exc).__name__}); run `tfhub-kit train {recipe.folder}` again"
        ) from exc
    which = "best" if recipe.train.select == "best" and ckpts.get("best") else "last"
    path = str(run_dir / ckpts[which])
    say(f"restoring the {which} checkpoint of run {report['run_id']}: {path}")
    ckpt = tf.train.Checkpoint(model=network.backbone, **(heads or {}))
    try:
        ckpt.read(path).expect_partial().assert_existing_objects_matched()
    except Exception as exc:  # DataLossError, NotFoundError, a mismatch: the checkpoint is damaged
        raise BuildLayoutError(
            f"{path}: the run's {which} checkpoint does not restore ({first_line(exc)}); "
            f"run `tfhub-kit train {recipe.folder}` again (it resumes from the newest intact checkpoint)"
        ) from exc
    return {
        "run_id": report["run_id"],
        "checkpoint": which,
        "checkpoint_path": path,
        "step": int(path.rsplit("-", 1)[1]),
        "steps": report["steps"],
        "strategy": report["strategy"],
        "replicas": report["replicas"],
        "objectives": report["objectives"],
        "final_losses": report["final_losses"],
        "best": report["best"],
        "phases": report.get("phases", []),
    }
