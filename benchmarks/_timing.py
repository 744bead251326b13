"""Timing shared by the benchmark scripts (they run as scripts, so this folder is on sys.path).

Every script starts with `print_machine()`: a ratio measured on one CPU does not hold on
another, so each run says which CPU it ran on (BENCHMARKS.md records it with the figure).
"""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tfhub_kit.cpu import cpu_flags

FLAGS_OF_NOTE = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile", "amx_int8")


def cpu_summary() -> str:
    """`<model>, <n> CPUs, flags: ...`: the model from lscpu, the flags that decide matmul speed
    as the kit reads them (`tfhub_kit.cpu`)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return f"{platform.processor() or 'unknown CPU'}, {os.cpu_count()} CPUs"
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    model = fields.get("Model name", "unknown").strip()
    flags = cpu_flags()  # the flags the kit itself decides on (bfloat16 distillation)
    noted = [f for f in FLAGS_OF_NOTE if f in flags] or ["none of " + "/".join(FLAGS_OF_NOTE)]
    return f"{model}, {os.cpu_count()} CPUs, flags: {' '.join(noted)}"


def print_machine() -> None:
    """What BENCHMARKS.md records beside each figure: date, CPU, command."""
    print(f"date: {datetime.date.today().isoformat()}")
    print(f"cpu: {cpu_summary()}")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")


# Hugging Face trainer arguments both training benchmarks share: CPU, no saving, logging or
# progress bar, full batches only (each side times the same number of whole steps).
HF_QUIET_TRAINING = {
    "save_strategy": "no",
    "logging_strategy": "no",
    "report_to": [],
    "use_cpu": True,
    "dataloader_drop_last": True,
    "disable_tqdm": True,
}


def ensure_build(build: Path, recipe: Path) -> None:
    """Export `recipe` first when `build` (a `<out>/<publisher>/<model>/<version>` folder)
    has no manifest."""
    if not (build / "manifest.json").is_file():
        from tfhub_kit.export import export_recipe

        print(f"exporting {recipe.name} to {build.parents[2]} first")
        export_recipe(recipe, out_dir=build.parents[2])


def export_bfloat16(recipe: Path, out: Path) -> Path:
    """Export `recipe` again with `export.embedding.precision: bfloat16` under `out` (its source
    pinned to the folder the recipe names, evaluate left out); returns the build folder."""
    import yaml

    from tfhub_kit.export import export_recipe
    from tfhub_kit.recipe import load_recipe

    data = yaml.safe_load((recipe / "recipe.yaml").read_text())
    data["source"] = {"hf_folder": str(load_recipe(recipe).source_dir)}
    data["export"]["embedding"] = {**data["export"].get("embedding", {}), "precision": "bfloat16"}
    data.pop("evaluate", None)
    (out / "recipe").mkdir(parents=True)
    (out / "recipe" / "recipe.yaml").write_text(yaml.safe_dump(data))
    return export_recipe(out / "recipe", out_dir=out / "build").layout.root


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


def matmul_peak_flops(size: int = 2048, repeats: int = 5) -> float:
    """The machine's float32 matmul rate in FLOP/s, as TensorFlow reaches it on a large
    square matmul (best of `repeats`): the yardstick model FLOPs utilisation (MFU) is
    measured against here. A CPU's nominal peak depends on FMA units and clocks that lscpu
    does not show; this is what the same kernels can actually do on it."""
    import tensorflow as tf

    a = tf.random.normal((size, size))
    b = tf.random.normal((size, size))
    matmul = tf.function(lambda x, y: tf.linalg.matmul(x, y))
    matmul(a, b).numpy()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        matmul(a, b).numpy()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def encoder_flops_per_token(layers: int, hidden: int, intermediate: int, tokens_per_sequence: float) -> float:
    """Model FLOPs of a BERT encoder per real token: the four attention projections and the
    feed-forward layer (2 FLOP per multiply-add), plus attention scores and their weighted sum
    over the sequence."""
    dense = 4 * hidden * hidden + 2 * hidden * intermediate
    attention = 2 * tokens_per_sequence * hidden
    return layers * 2 * (dense + attention)
