"""Sentences/s of our `embedding/` SavedModel vs sentence-transformers (PyTorch), one run.

Both encode the same 2,000 STS-B dev sentences at batch 32 on this machine, each after a
warm-up pass; both sort by length before batching (sentence-transformers does so inside
`encode`; `tfhub_kit.evaluate.encode` does the same in front of the SavedModel). Prints both rates and the ratio.

    .venv/bin/python benchmarks/encode_throughput.py [--build build/tfhub-kit/all_minilm_l6_v2/1]
"""

from __future__ import annotations

import argparse
import csv
import os
from pathlib import Path

from _timing import ensure_build, print_machine, rate

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["HF_HUB_OFFLINE"] = "1"

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "models" / "tfhub-kit" / "all_minilm_l6_v2"


def stsb_sentences(n: int) -> list[str]:
    with (ROOT / "data" / "stsb" / "stsb-en-dev.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    sentences = [s for row in rows for s in row[:2]]
    return sentences[:n]


def main() -> None:
    print_machine()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", type=Path, default=ROOT / "build" / "tfhub-kit" / "all_minilm_l6_v2" / "1")
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    ensure_build(args.build, RECIPE)

    import tensorflow as tf
    import tensorflow_text  # noqa: F401
    from sentence_transformers import SentenceTransformer

    from tfhub_kit.evaluate import encode
    from tfhub_kit.recipe import load_recipe

    sentences = stsb_sentences(args.sentences)
    embed = tf.saved_model.load(str(args.build / "embedding"))

    def ours(texts: list[str]) -> None:
        encode(embed, texts, batch_size=args.batch)

    st = SentenceTransformer(str(load_recipe(RECIPE).source_dir), device="cpu")

    def theirs(texts: list[str]) -> None:
        st.encode(texts, batch_size=args.batch, convert_to_numpy=True)

    ours_rate = rate(ours, sentences, args.repeats)
    theirs_rate = rate(theirs, sentences, args.repeats)
    print(f"sentences: {len(sentences)} (STS-B dev), batch {args.batch}, median of {args.repeats} runs")
    print(f"tfhub-kit embedding/ SavedModel : {ours_rate:8.1f} sentences/s")
    print(f"sentence-transformers (PyTorch)  : {theirs_rate:8.1f} sentences/s")
    print(f"ratio ours/theirs                : {ours_rate / theirs_rate:8.2f}x")


if __name__ == "__main__":
    main()
