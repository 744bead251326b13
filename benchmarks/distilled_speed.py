"""Encode throughput of the distilled 3-layer student vs its 6-layer teacher, one run.

Both `embedding/` SavedModels encode the same 2,000 STS-B dev sentences at batch 32 (sorted
by length, as `tfhub-kit evaluate` does), each after a warm-up pass; the two are timed in
alternation, three rounds, and the medians compared. Exports the two sample recipes first if
their builds are missing (the student's needs a finished `tfhub-kit train` run).

    .venv/bin/python benchmarks/distilled_speed.py [--build-root build]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from _timing import print_machine

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models" / "tfhub-kit"


def main() -> None:
    print_machine()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build-root", type=Path, default=ROOT / "build")
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()

    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    from tfhub_kit.datasets import read_sts
    from tfhub_kit.evaluate import encode
    from tfhub_kit.export import export_recipe

    models = {}
    for name in ("all_minilm_l6_v2", "all_minilm_l3_distilled"):
        build = args.build_root / "tfhub-kit" / name / "1"
        if not (build / "manifest.json").is_file():
            print(f"exporting {name} first")
            export_recipe(MODELS / name, out_dir=args.build_root)
        models[name] = tf.saved_model.load(str(build / "embedding"))
    first, second, _ = read_sts(ROOT / "data" / "stsb" / "stsb-en-dev.csv", "stsb_csv")
    sentences = [s for pair in zip(first, second, strict=False) for s in pair][: args.sentences]
    times: dict[str, list[float]] = {name: [] for name in models}
    for model in models.values():
        encode(model, sentences[: args.batch * 4], batch_size=args.batch)
    for _ in range(3):
        for name, model in models.items():
            start = time.perf_counter()
            encode(model, sentences, batch_size=args.batch)
            times[name].append(time.perf_counter() - start)
    rates = {name: len(sentences) / statistics.median(t) for name, t in times.items()}
    for name, value in rates.items():
        print(f"{name}: {value:.1f} sentences/s")
    ratio = rates["all_minilm_l3_distilled"] / rates["all_minilm_l6_v2"]
    print(f"ratio 3-layer / 6-layer: {ratio:.2f}x ({len(sentences)} sentences, batch {args.batch})")


if __name__ == "__main__":
    main()
