"""Lines/s of the kit's whole token-counting pipeline vs HF `tokenizers` (Rust) `encode_batch`
alone, on the same 100k lines, one run.

Ours: tf.data streaming from a file, tensorflow-text tokenization (the preprocessing
SavedModel's own graph), per-line unique ids and counting. Theirs: tokenization only.

    .venv/bin/python benchmarks/count_tokens.py [--lines 100000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from _timing import print_machine

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]


def corpus(n: int) -> list[str]:
    base = (ROOT / "data" / "stsb" / "stsb-en-train.sentences.txt").read_text(encoding="utf-8").splitlines()
    return (base * (n // len(base) + 1))[:n]


def main() -> None:
    print_machine()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=100_000)
    args = parser.parse_args()

    from tokenizers import Tokenizer

    from tfhub_kit.networks import inspect_hf_folder
    from tfhub_kit.recipe import load_recipe
    from tfhub_kit.tokenizers.wordpiece import CountingTokenizer
    from tfhub_kit.transforms.prune_vocab import count_tokens

    folder = load_recipe(ROOT / "models" / "tfhub-kit" / "all_minilm_l6_v2").source_dir
    spec = inspect_hf_folder(folder).tokenizer
    lines = corpus(args.lines)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "corpus.txt"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        tokenize = CountingTokenizer(spec)  # what prune_vocab counts with
        count_tokens([path], tokenize, len(spec.vocab()))  # warm-up: traces the graph
        start = time.perf_counter()
        counts = count_tokens([path], tokenize, len(spec.vocab()))
        ours = time.perf_counter() - start
    assert counts.lines == len(lines)

    hf = Tokenizer.from_file(str(folder / "tokenizer.json"))
    hf.no_padding()
    hf.no_truncation()
    hf.encode_batch(lines[:1000])
    start = time.perf_counter()
    hf.encode_batch(lines)
    theirs = time.perf_counter() - start

    print(f"lines: {len(lines):,} (STS-B train sentences, repeated)")
    print(f"tfhub-kit counting pipeline (tokenize + per-line unique + count): {len(lines) / ours:10,.0f} lines/s")
    print(f"HF tokenizers encode_batch (tokenize only)                     : {len(lines) / theirs:10,.0f} lines/s")
    print(f"ratio ours/theirs: {theirs / ours:.2f}x")


if __name__ == "__main__":
    main()
