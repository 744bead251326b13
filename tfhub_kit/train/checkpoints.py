"""Checkpoints that survive damage, and weights that never get saved broken.

- `restore_newest_intact` resumes from the newest checkpoint on disk that restores whole,
  found by its files (`ckpt-<step>.index`), not by TensorFlow's `checkpoint` state file: a
  missing or garbled state file is rewritten, a damaged newest checkpoint (truncated data,
  flipped bytes, a truncated index) is skipped with a warning naming it. If checkpoints
  exist and none restores, training stops and says so (`--fresh` starts over): a run never
  restarts from step 0 silently.
- `remove_failed_saves` deletes the `ckpt-<step>_temp/` folders a failed save (a full disk,
  a kill) leaves; the run folder's writer lock makes sure no live save owns them.
- `check_finite` stops a run whose losses or weights went NaN/Inf before anything is saved,
  naming the step and the objective; the last good checkpoint stays the resume point.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from tfhub_kit.errors import TrainError, first_line
from tfhub_kit.metrics import non_finite

STATE_FILE_NAME = "checkpoint"
"""TensorFlow's CheckpointManager state file in a checkpoint folder."""
_CKPT = re.compile(r"^ckpt-(\d+)\.index$")


def checkpoints_on_disk(folder: Path) -> list[tuple[int, str]]:
    """(step, prefix) of every `ckpt-<step>` in `folder`, newest first."""
    found = [
        (int(m[1]), str(folder / f"ckpt-{m[1]}")) for p in folder.glob("ckpt-*.index") if (m := _CKPT.match(p.name))
    ]
    return sorted(found, reverse=True)


def remove_failed_saves(folder: Path, say: Callable[[str], None]) -> None:
    """Delete `*_temp` folders of saves that never finished."""
    for temp in sorted(folder.glob("*_temp")) if folder.is_dir() else []:
        if temp.is_dir():
            shutil.rmtree(temp, ignore_errors=True)
            say(f"removed {temp.name}/ left by a save that did not finish")


def restore_newest_intact(ckpt: Any, folder: Path, say: Callable[[str], None], *, repair: bool = True) -> str | None:
    """Restore `ckpt` from the newest intact `ckpt-<step>` in `folder`; returns its prefix, or
    None when the folder holds no checkpoint. With `repair` (the chief), damaged newer
    checkpoints are deleted and TensorFlow's state file is rewritten to list the intact ones,
    so the CheckpointManager made after this call knows them."""
    import tensorflow as tf

    found = checkpoints_on_disk(folder)
    if not found:
        return None
    damaged = []
    for step, prefix in found:
        try:
            ckpt.restore(prefix).assert_consumed()
        except Exception as exc:  # DataLossError, NotFoundError, OutOfRange, a mismatch: not restorable
            say(f"warning: skipping damaged checkpoint {Path(prefix).name} (step {step}): {first_line(exc)}")
            damaged.append(prefix)
            continue
        if repair:
            for bad in damaged:  # newer than the one restored, unreadable: training writes them again
                for part in folder.glob(Path(bad).name + ".*"):
                    part.unlink(missing_ok=True)
            intact = [p for s, p in sorted(found) if p not in damaged and s <= step]
            tf.compat.v1.train.update_checkpoint_state(
                str(folder), model_checkpoint_path=prefix, all_model_checkpoint_paths=intact
            )
        return prefix
    names = ", ".join(Path(p).name for _, p in found)
    raise TrainError(
        f"{folder}: no checkpoint restores ({names} are all damaged); "
        "nothing was overwritten. Run `tfhub-kit train --fresh` to start the run over"
    )


def check_state_file(folder: Path, say: Callable[[str], None]) -> None:
    """Remove TensorFlow's state file if it does not parse (the checkpoints are found by
    their files instead)."""
    import tensorflow as tf

    state = folder / STATE_FILE_NAME
    if not state.is_file():
        return
    try:
        tf.train.get_checkpoint_state(str(folder))
    except Exception as exc:  # a garbled text proto
        say(f"warning: {state} is damaged ({type(exc).__name__}); finding the checkpoints by their files")
        state.unlink()


def check_finite(
    losses: Mapping[str, float], weights: list[Any] | None, *, step: int, where: Path, last_good: str | None
) -> None:
    """Raise `TrainError` (exit 1) if a loss or (when given) a weight is NaN or Inf."""
    resume = (
        f"the last good checkpoint, {Path(last_good).name}, stays the resume point"
        if last_good
        else "no checkpoint was written"
    )
    advice = "train with a lower learning rate (a new run), or `tfhub-kit train --fresh`"
    bad = {name: value for name, value in losses.items() if not np.isfinite(value)}
    if bad:
        named = ", ".join(f"{name} ({value})" for name, value in bad.items())
        raise TrainError(
            f"{where}: training diverged at step {step}: the loss of {named} is not finite; {resume}; {advice}"
        )
    if weights is None:
        return
    broken = non_finite({getattr(w, "path", getattr(w, "name", "?")): w for w in weights})
    if broken:
        raise TrainError(
            f"{where}: training diverged at step {step}: {len(broken)} of {len(weights)} weights went NaN or Inf "
            f"(first: {', '.join(broken[:3])}); nothing was saved; {resume}; {advice}"
        )
