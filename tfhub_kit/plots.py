"""The picture on the model card: `results.png`, drawn by the evaluate stage.

    draw_results(path, sts={"stsb-en-dev": (predicted, gold)}, results=results, references={...})

One scatter per STS set (cosine similarity predicted by the model against the gold score,
with Spearman in the title), then, when the recipe names reference models, encode speed
and parameter count of this build beside theirs. matplotlib's Agg backend (no display);
the file is written to a temporary name and renamed into place.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

RESULTS_PNG = "results.png"


def draw_results(
    path: Path,
    *,
    sts: Mapping[str, tuple[Sequence[float], Sequence[float]]],
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
    axes = list(axes[0])
    for ax, (name, (predicted, gold)) in zip(axes, sts.items()):
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
        speed_ax, size_ax = axes[len(sts) :][:2]
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
        axes[0].text(0.5, 0.5, "no STS sets in the recipe", ha="center", va="center")
        axes[0].set_axis_off()
    fig.suptitle(results["handle"], fontsize=11)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)
    return path
