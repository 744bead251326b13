"""Sentences/s of our `embedding/` SavedModel vs sentence-transformers (PyTorch), one run.

Both encode the same 2,000 STS-B dev sentences at batch 32 on this machine, each after a
warm-up pass. Rows:

- sorted: both sort by length before batching (sentence-transformers does so inside
  `encode`; `tfhub_kit.evaluate.encode` does the same in front of the SavedModel);
- file order: our SavedModel called on the batches as they come (what a user's loop does;
  the padding-free path makes padding cost nothing), against the same `st.encode` (which
  sorts whatever it is given);
- bfloat16: the same recipe exported with `export.embedding.precision: bfloat16` (into a
  temporary folder, about 30 s), sorted, against sentence-transformers in float32.

Prints each rate, its model-FLOPs utilisation (MFU) and the ratios.

    .venv/bin/python benchmarks/encode_throughput.py [--build build/tfhub-kit/all_minilm_l6_v2/1]
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
from pathlib import Path

from _timing import encoder_flops_per_token, ensure_build, export_bfloat16, matmul_peak_flops, print_machine, rate

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["HF_HUB_OFFLINE"] = "1"

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "models" / "tfhub-kit" / "all_minilm_l6_v2"
BUILD = ROOT / "build" / "tfhub-kit" / "all_minilm_l6_v2" / "1"


def stsb_sentences(n: int) -> list[str]:
    with (ROOT / "data" / "stsb" / "stsb-en-dev.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    sentences = [s for row in rows for s in row[:2]]
    return sentences[:n]


def main() -> None:
    print_machine()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", type=Path, default=BUILD)
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

    def ours_file_order(texts: list[str]) -> None:
        for start in range(0, len(texts), args.batch):
            embed(tf.constant(texts[start : start + args.batch])).numpy()

    tmp = Path(tempfile.mkdtemp(prefix="encode-bf16-"))
    embed_bf16 = tf.saved_model.load(str(export_bfloat16(RECIPE, tmp) / "embedding"))

    def ours_bf16(texts: list[str]) -> None:
        encode(embed_bf16, texts, batch_size=args.batch)

    st = SentenceTransformer(str(load_recipe(RECIPE).source_dir), device="cpu")

    def theirs(texts: list[str]) -> None:
        st.encode(texts, batch_size=args.batch, convert_to_numpy=True)

    ours_rate = rate(ours, sentences, args.repeats)
    file_order_rate = rate(ours_file_order, sentences, args.repeats)
    bf16_rate = rate(ours_bf16, sentences, args.repeats)
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
        ("tfhub-kit embedding/, sorted", ours_rate),
        ("tfhub-kit embedding/, file order", file_order_rate),
        ("tfhub-kit bfloat16 embedding/", bf16_rate),
        ("sentence-transformers (PyTorch)", theirs_rate),
    ):
        mfu = value * flops_per_sentence / peak
        print(f"{name:<34}: {value:8.1f} sentences/s  MFU {100 * mfu:5.1f}% (of the float32 rate)")
    print(f"ratio ours/theirs, sorted          : {ours_rate / theirs_rate:8.2f}x")
    print(f"ratio ours/theirs, file order      : {file_order_rate / theirs_rate:8.2f}x")
    print(f"ratio bfloat16 ours/theirs float32 : {bf16_rate / theirs_rate:8.2f}x")


if __name__ == "__main__":
    main()
