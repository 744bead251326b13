"""Static encode throughput as a user gets it: a plain loop over batches, ours vs model2vec.

Ours: the build's `embedding/` SavedModel called directly (`tf.saved_model.load`), batch by
batch, no sorting. Theirs: `model2vec.StaticModel.from_pretrained` on the same build's
`model2vec/` folder (the same table and tokenizer), `encode` batch by batch. Both take the
3,000 STS-B dev sentences (held out from the table's refining) in their file order, in
batches of 1,024; each side's time is the best of 3 after a warm-up. The pair runs `--runs`
times in a row and every ratio is printed (goal: >= 1.5x in each).

    .venv/bin/python benchmarks/static_encode_loop.py [--build build/tfhub-kit/all_minilm_l6_v2_static/1]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from _timing import ensure_build, print_machine

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["HF_HUB_OFFLINE"] = "1"

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "models" / "tfhub-kit" / "all_minilm_l6_v2_static"


def best_of(fn, batches: list[list[str]], repeats: int = 3) -> float:
    """Sentences/s of calling `fn` on every batch: best of `repeats` after a warm-up."""
    for batch in batches:
        fn(batch)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for batch in batches:
            fn(batch)
        best = min(best, time.perf_counter() - start)
    return sum(map(len, batches)) / best


def main() -> None:
    print_machine()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", type=Path, default=ROOT / "build" / "tfhub-kit" / "all_minilm_l6_v2_static" / "1")
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    ensure_build(args.build, RECIPE)

    import tensorflow as tf
    import tensorflow_text  # noqa: F401
    from model2vec import StaticModel

    from tfhub_kit.datasets import read_sts

    a, b, _ = read_sts(ROOT / "data" / "stsb" / "stsb-en-dev.csv", "stsb_csv")
    sentences = [s for pair in zip(a, b, strict=False) for s in pair]
    batches = [sentences[i : i + args.batch] for i in range(0, len(sentences), args.batch)]

    ours_model = tf.saved_model.load(str(args.build / "embedding"))
    theirs_model = StaticModel.from_pretrained(str(args.build / "model2vec"))

    def ours(batch: list[str]) -> None:
        ours_model(tf.constant(batch)).numpy()

    def theirs(batch: list[str]) -> None:
        theirs_model.encode(batch, batch_size=args.batch)

    print(f"{len(sentences):,} STS-B dev sentences in file order, batches of {args.batch}, best of 3")
    for run in range(1, args.runs + 1):
        r_ours, r_theirs = best_of(ours, batches), best_of(theirs, batches)
        print(f"run {run}: ours {r_ours:,.0f}/s, model2vec {r_theirs:,.0f}/s, ratio {r_ours / r_theirs:.2f}x")


if __name__ == "__main__":
    main()
