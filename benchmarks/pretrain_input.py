"""Masking input pipeline, examples/s: tfhub-kit's in-graph masking vs Hugging Face's collator.

Both sides start from the same token ids (MiniLM's WordPiece tokenizer; STS-B train
sentences joined eight to a row, cut at 128 pieces, the 1,437 rows eight times over) and
produce the same thing: batches of 256 masked rows with their prediction targets, 15%
selected, 80/10/10, drawn again every epoch.

- Ours: `tf.data` over the packed ids, batched, `MlmMasker` mapped in parallel, prefetched
  (what a training loop or a TPU host runs).
- Theirs: `transformers.DataCollatorForLanguageModeling` (`whole_word_mask=True` is what
  `DataCollatorForWholeWordMask` now forwards to) called on lists of examples, as a
  `DataLoader` does, with NumPy and with PyTorch tensors.

Each side runs `--epochs` epochs after a warm-up epoch; one run prints every ratio (goal >= 3x).

Then the training stage's own input pipeline (`dataset_function`, whole-word masks) over a
corpus `data prepare` packed from the same sentences (eight copies, 128 pieces, 8 shards):
rows held in memory vs `pretrain.corpus.streaming` (read from the TFRecord shards through
the shuffle buffer), so what streaming costs is measured in the same run.

    .venv/bin/python benchmarks/pretrain_input.py [--epochs 3]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from _timing import print_machine

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["HF_HUB_OFFLINE"] = "1"

ROOT = Path(__file__).resolve().parents[1]
SEQ, BATCH = 128, 256


def main() -> None:
    print_machine()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf
    from transformers import AutoTokenizer, DataCollatorForLanguageModeling

    from tfhub_kit.datasets import read_lines
    from tfhub_kit.pretrain.masking import MlmConfig, MlmMasker
    from tfhub_kit.recipe import load_recipe
    from tfhub_kit.tokenizers import tokenizer_spec_from_hf

    folder = load_recipe(ROOT / "models" / "tfhub-kit" / "all_minilm_l6_v2").source_dir
    sentences = read_lines(ROOT / "data" / "stsb" / "stsb-en-train.sentences.txt")
    rows = [" ".join(sentences[i : i + 8]) for i in range(0, len(sentences), 8)] * 8
    hf = AutoTokenizer.from_pretrained(folder)
    enc = hf(
        rows,
        max_length=SEQ,
        truncation=True,
        padding="max_length",
        return_offsets_mapping=True,
        return_special_tokens_mask=True,
    )
    n = len(rows) // BATCH * BATCH
    print(f"{n:,} rows of {SEQ} pieces ({np.mean(np.sum(enc['attention_mask'][:n], axis=1)):.0f} real at the mean)")

    spec = tokenizer_spec_from_hf(folder, "bert")
    word_ids = np.asarray(enc["input_ids"][:n], np.int32)
    mask = np.asarray(enc["attention_mask"][:n], np.int32)

    def ours(whole_word: bool) -> float:
        masker = MlmMasker.for_tokenizer(MlmConfig(whole_word=whole_word, max_predictions=20), spec)

        steps = n // BATCH
        ds = tf.data.Dataset.from_tensor_slices((word_ids, mask)).batch(BATCH, drop_remainder=True)
        ds = ds.repeat(args.epochs + 1).enumerate()  # the step number seeds the draw: a new mask every epoch
        ds = ds.map(lambda i, b: masker(b[0], b[1], tf.stack([tf.constant(0, tf.int64), i])), tf.data.AUTOTUNE)
        batches = iter(ds.prefetch(tf.data.AUTOTUNE))
        for _ in range(steps):  # warm-up epoch
            next(batches)
        start = time.perf_counter()
        for _ in batches:
            pass
        return n * args.epochs / (time.perf_counter() - start)

    def theirs(whole_word: bool, tensors: str) -> float:
        collator = DataCollatorForLanguageModeling(hf, whole_word_mask=whole_word, return_tensors=tensors, seed=0)
        keys = ["input_ids", "attention_mask", "special_tokens_mask"] + (["offset_mapping"] if whole_word else [])
        examples = [{k: enc[k][i] for k in keys} for i in range(n)]
        batches = [examples[i : i + BATCH] for i in range(0, n, BATCH)]
        for batch in batches:
            collator(batch)
        start = time.perf_counter()
        for _ in range(args.epochs):
            for batch in batches:
                collator(batch)
        return n * args.epochs / (time.perf_counter() - start)

    for whole_word in (False, True):
        name = "whole-word" if whole_word else "token"
        a, b, c = ours(whole_word), theirs(whole_word, "np"), theirs(whole_word, "pt")
        print(
            f"{name:10s} ours {a:9,.0f} examples/s | HF numpy {b:8,.0f} ({a / b:.2f}x) | "
            f"HF torch {c:8,.0f} ({a / c:.2f}x)"
        )
    memory, streamed, rows = training_pipelines(folder, sentences, args.epochs)
    print(
        f"training pipeline, {rows:,} prepared rows, whole-word: in memory {memory:9,.0f} examples/s | "
        f"streamed from shards {streamed:9,.0f} ({streamed / memory:.2f}x)"
    )


def training_pipelines(source: Path, sentences: list[str], epochs: int) -> tuple[float, float, int]:
    """Examples/s of `dataset_function` over the prepared corpus, in memory and streamed."""
    import tempfile

    import tensorflow as tf
    import yaml

    from tfhub_kit.pretrain.corpus import prepare_corpus
    from tfhub_kit.recipe import load_recipe
    from tfhub_kit.train.data import dataset_function, load_tasks

    work = Path(tempfile.mkdtemp(prefix="pretrain_input-"))
    (work / "corpus.txt").write_text("\n".join(sentences * 8) + "\n", encoding="utf-8")
    out = {}
    for streaming in (False, True):
        recipe = {
            "model": {"publisher": "bench", "name": "mlm", "version": 1, "description": "Benchmark."},
            "source": {"hf_folder": str(source)},
            "pretrain": {
                "seq_length": SEQ,
                "corpus": {"files": [{"path": "corpus.txt"}], "shards": 8, "held_out": 0.0, "streaming": streaming},
            },
            "train": {
                "strategy": "cpu",
                "seq_length": SEQ,
                "global_batch_size": BATCH,
                "steps": 1,
                "objectives": [{"mlm": {"whole_word": True, "max_predictions": 20}}],
            },
        }
        (work / "recipe.yaml").write_text(yaml.safe_dump(recipe))
        loaded = load_recipe(work)
        folder = prepare_corpus(loaded, out_dir=work / "build").folder
        (task,) = load_tasks(loaded, teacher=None, corpus=lambda folder=folder: folder)
        steps = task.rows // BATCH
        make = dataset_function([task], None, seed=0, start_step=0, stop_step=steps * (epochs + 1))
        batches = iter(make(tf.distribute.InputContext()))
        for _ in range(steps):  # warm-up epoch
            next(batches)
        start = time.perf_counter()
        for _ in batches:
            pass
        out[streaming] = steps * BATCH * epochs / (time.perf_counter() - start)
    return out[False], out[True], task.rows


if __name__ == "__main__":
    main()
