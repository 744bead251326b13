"""Timing shared by the benchmark scripts (they run as scripts, so this folder is on sys.path)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path


def ensure_build(build: Path, recipe: Path) -> None:
    """Export `recipe` first when `build` (a `<out>/<publisher>/<model>/<version>` folder)
    has no manifest."""
    if not (build / "manifest.json").is_file():
        from tfhub_kit.export import export_recipe

        print(f"exporting {recipe.name} to {build.parents[2]} first")
        export_recipe(recipe, out_dir=build.parents[2])


def rate(fn: Callable[[list[str]], object], sentences: list[str], repeats: int = 3) -> float:
    """Sentences per second of `fn(sentences)`: the median of `repeats` runs after a warm-up
    run (traces, caches, thread pools)."""
    fn(sentences)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(sentences)
        times.append(time.perf_counter() - start)
    return len(sentences) / statistics.median(times)
