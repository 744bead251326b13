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

from _timing import encoder_flops_per_token, ensure_build, matmul_peak_flops, print_machine, rate

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
    # Model FLOPs: the real (unpadded) tokens of these sentences, the same count for both sides
    tokens = [len(ids) for ids in st.tokenizer(sentences, truncation=True, max_length=256)["input_ids"]]
    config = st[0].auto_model.config
    per_token = encoder_flops_per_token(
        config.num_hidden_layers, config.hidden_size, config.intermediate_size, sum(t * t for t in tokens) / sum(tokens)
    )
    flops_per_sentence = per_token * sum(tokens) / len(tokens)
    peak = matmul_peak_flops()
    print(f"sentences: {len(sentences)} (STS-B dev), batch {args.batch}, median of {args.repeats} runs")
    print(f"model FLOPs: {per_token / 1e6:.1f} MFLOP per token, {sum(tokens) / len(tokens):.1f} tokens per sentence")
    print(f"float32 matmul rate of this machine (TensorFlow, 2048^2): {peak / 1e9:.1f} GFLOP/s")
    for name, value in (
        ("tfhub-kit embedding/ SavedModel", ours_rate),
        ("sentence-transformers (PyTorch)", theirs_rate),
    ):
        mfu = value * flops_per_sentence / peak
        print(f"{name:<32}: {value:8.1f} sentences/s  MFU {100 * mfu:5.1f}%")
    print(f"ratio ours/theirs                : {ours_rate / theirs_rate:8.2f}x")


if __name__ == "__main__":
    main()
