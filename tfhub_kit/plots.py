"""Pictures: `results.png` on the model card (drawn by the evaluate stage) and a training
run's `training.png` (its TensorBoard scalars, drawn when the run ends).

    draw_results(path, sts={"stsb-en-dev": (predicted, gold)}, results=results, references={...})
    draw_training(run_dir)   # losses per objective and evaluations, from run_dir/logs

One scatter per STS set (cosine similarity predicted by the model against the gold score,
with Spearman in the title), then, when the recipe names reference models, encode speed
and parameter count of this build beside theirs. matplotlib's Agg backend (no display);
the file is written to a temporary name and renamed into place.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

RESULTS_PNG = "results.png"
TRAINING_PNG = "training.png"


def draw_results(
    path: Path,
    *,
    sts: Mapping[str, tuple[Any, Any]],
    results: Mapping[str, Any],
    references: Mapping[str, Mapping[str, Any]],
) -> Path:
    """Draw the STS scatters (and speed/size bars beside `references`: handle -> their
    results.json) into `path`; returns `path`."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    panels = len(sts) + (2 if references else 0)
    fig, axes = plt.subplots(1, max(panels, 1), figsize=(4.2 * max(panels, 1), 4.0), squeeze=False)
    panel_axes = list(axes[0])
    for ax, (name, (predicted, gold)) in zip(panel_axes, sts.items(), strict=False):
        ax.scatter(gold, predicted, s=4, alpha=0.35, color="#1a73e8", linewidths=0)
        spearman = results["sts"][name]["spearman"]
        ax.set_title(f"{name}\nSpearman x100 = {spearman:.2f}", fontsize=10)
        ax.set_xlabel("gold similarity")
        ax.set_ylabel("predicted cosine similarity")
        ax.grid(alpha=0.3)
    if references:
        handles = [results["handle"], *references]
        rows = [results, *references.values()]
        colors = ["#1a73e8"] + ["#9aa0a6"] * len(references)
        labels = [h.split("/")[1] for h in handles]
        speed_ax, size_ax = panel_axes[len(sts) :][:2]
        speed_ax.barh(labels, [r["speed"]["sentences_per_second"] for r in rows], color=colors)
        speed_ax.set_title(f"encode speed (batch {results['speed']['batch_size']})", fontsize=10)
        speed_ax.set_xlabel("sentences / s")
        size_ax.barh(labels, [(r["size"]["parameters"] or {}).get("total", 0) / 1e6 for r in rows], color=colors)
        size_ax.set_title("size", fontsize=10)
        size_ax.set_xlabel("parameters (millions)")
        for ax in (speed_ax, size_ax):
            ax.invert_yaxis()
            ax.grid(axis="x", alpha=0.3)
    if not sts and not references:
        panel_axes[0].text(0.5, 0.5, "no STS sets in the recipe", ha="center", va="center")
        panel_axes[0].set_axis_off()
    fig.suptitle(results["handle"], fontsize=11)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)
    return path


def draw_training(run_dir: Path, title: str = "") -> Path | None:
    """Draw the run's TensorBoard scalars (`logs/`): each objective's loss and every
    evaluation against the step, into `run_dir/training.png`; None if nothing was logged."""
    import matplotlib
    import tensorflow as tf
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    events = EventAccumulator(str(run_dir / "logs"), size_guidance={"tensors": 0})
    events.Reload()

    def series(tag: str) -> tuple[list[int], list[float]]:
        points = {e.step: float(tf.make_ndarray(e.tensor_proto)) for e in events.Tensors(tag)}
        return sorted(points), [points[k] for k in sorted(points)]

    tags = events.Tags().get("tensors", [])
    losses = sorted(t for t in tags if t.startswith("loss/") and t != "loss/total")
    evals = sorted(t for t in tags if t.startswith("eval/"))
    if not losses:
        return None
    fig, axes = plt.subplots(1, 2 if evals else 1, figsize=(11 if evals else 6, 3.8), squeeze=False)
    loss_ax = axes[0][0]
    for tag in losses:
        loss_ax.plot(*series(tag), label=tag.removeprefix("loss/"), linewidth=1.2)
    loss_ax.set_xlabel("step")
    loss_ax.set_ylabel("training loss")
    loss_ax.legend(fontsize=8)
    loss_ax.grid(alpha=0.3)
    if evals:
        eval_ax = axes[0][1]
        for tag in evals:
            eval_ax.plot(*series(tag), marker="o", label=tag.removeprefix("eval/").removesuffix("/spearman"))
        eval_ax.set_xlabel("step")
        eval_ax.set_ylabel("held-out accuracy / dev Spearman (x100)")
        eval_ax.legend(fontsize=8)
        eval_ax.grid(alpha=0.3)
    fig.suptitle(title or run_dir.name, fontsize=11)
    fig.tight_layout()
    path = run_dir / TRAINING_PNG
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)
    return path
