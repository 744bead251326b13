"""Masked-LM pretraining steps, examples/s: the kit's training step vs Hugging Face `Trainer`
with `BertForMaskedLM` and its whole-word collator, one run, the same tiny model and rows.

Both sides train a tiny BERT from scratch (2 layers, 128 dims, 2 heads, 512 inner; the
kit-learned 1,964-piece WordPiece vocabulary of tests/data) with whole-word masked-LM (15%,
80/10/10) at batch 64 on the same rows: STS-B train sentences packed into 64-piece rows by
`tfhub-kit data prepare`. The step is the whole step: masking, forward, backward, AdamW.

- Ours: `Trainer.train_loop` (the cpu strategy; `--jit` compiles the step with XLA), rows in
  memory, masks drawn in the input pipeline.
- Theirs: `transformers.Trainer` on `BertForMaskedLM` with the whole-word collator
  (`DataCollatorForLanguageModeling(whole_word_mask=True)`, what `DataCollatorForWholeWordMask`
  forwards to; PyTorch, CPU), the same rows decoded to text and tokenized with the same
  vocabulary (it needs the offsets to find words).

Each side is timed over `--steps` steps after `--warmup` steps (tracing, thread pools).

    .venv/bin/python benchmarks/mlm_step.py [--steps 40 --warmup 5 --jit]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml
from _timing import HF_QUIET_TRAINING, print_machine

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["HF_HUB_OFFLINE"] = "1"

ROOT = Path(__file__).resolve().parents[1]
VOCAB = ROOT / "tests" / "data" / "stsb_wordpiece_2k.txt"
SEQ, BATCH = 64, 64
MODEL = {"hidden_dim": 128, "num_layers": 2, "num_heads": 2, "intermediate_dim": 512}


def _recipe(folder: Path, steps: int, jit: bool) -> Path:
    shutil.copy(VOCAB, folder / "vocab.txt")
    recipe = {
        "model": {"publisher": "bench", "name": "tiny_mlm", "version": 1, "description": "Tiny."},
        "source": {"scratch": {"vocab": "vocab.txt", **MODEL, "max_sequence_length": SEQ, "dropout": 0.1}},
        "pretrain": {
            "seq_length": SEQ,
            "corpus": {"files": [{"path": str(ROOT / "data/stsb/stsb-en-train.csv"), "format": "stsb_csv"}]},
        },
        "train": {
            "strategy": "cpu",
            "seq_length": SEQ,
            "global_batch_size": BATCH,
            "steps": steps,
            "optimizer": {"learning_rate": 1e-3, "warmup_steps": 0},
            "jit_compile": jit,
            "objectives": [{"mlm": {"whole_word": True, "max_predictions": 12}}],
        },
        "export": {"saved_models": ["encoder", "preprocess"], "seq_length": SEQ},
    }
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    return folder


def ours(folder: Path, args: argparse.Namespace) -> tuple[float, np.ndarray]:
    """Examples/s of the kit's train loop; also the prepared rows (token ids) for theirs."""
    import tensorflow as tf

    from tfhub_kit.build import build_model
    from tfhub_kit.pretrain.corpus import corpus_dataset, prepare_corpus
    from tfhub_kit.recipe import load_recipe
    from tfhub_kit.tokenizers.build import build_preprocessor
    from tfhub_kit.train.data import dataset_function, load_tasks
    from tfhub_kit.train.loop import Trainer
    from tfhub_kit.train.strategy import make_strategy

    recipe = load_recipe(folder)
    total = args.steps + args.warmup
    prepared = prepare_corpus(recipe, out_dir=folder / "build").folder
    rows = np.stack([r["input_word_ids"].numpy() for r in corpus_dataset(prepared, "train")])
    strategy = make_strategy(recipe.train)
    with strategy.scope(), build_model(recipe, out_dir=folder / "build") as built:
        tasks = load_tasks(recipe, teacher=None, corpus=lambda: prepared)
        trainer = Trainer(
            built.network, tasks, strategy, recipe.train, total_steps=total, pooling="cls", normalize=False
        )
        preprocessor = build_preprocessor(built.source.tokenizer, SEQ)
        fn = dataset_function(tasks, preprocessor, seed=0, start_step=0, stop_step=total)
        iterator = iter(strategy.distribute_datasets_from_function(fn))
        float(trainer.train_loop(iterator, tf.constant(args.warmup, tf.int64))["mlm"])
        start = time.perf_counter()
        float(trainer.train_loop(iterator, tf.constant(args.steps, tf.int64))["mlm"])
        seconds = time.perf_counter() - start
    return args.steps * BATCH / seconds, rows


def hugging_face(rows: np.ndarray, folder: Path, args: argparse.Namespace) -> float:
    """Examples/s of `transformers.Trainer` on BertForMaskedLM with the whole-word collator."""
    import torch
    from transformers import (
        BertConfig,
        BertForMaskedLM,
        BertTokenizerFast,
        DataCollatorForLanguageModeling,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    torch.manual_seed(0)
    tokenizer = BertTokenizerFast(vocab_file=str(VOCAB), do_lower_case=True)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=MODEL["hidden_dim"],
        num_hidden_layers=MODEL["num_layers"],
        num_attention_heads=MODEL["num_heads"],
        intermediate_size=MODEL["intermediate_dim"],
        max_position_embeddings=SEQ,
    )
    texts = tokenizer.batch_decode(rows.tolist(), skip_special_tokens=True)
    enc = tokenizer(
        texts,
        max_length=SEQ,
        truncation=True,
        padding="max_length",
        return_offsets_mapping=True,
        return_special_tokens_mask=True,
    )
    keys = ("input_ids", "attention_mask", "special_tokens_mask", "offset_mapping")
    examples = [{k: enc[k][i] for k in keys} for i in range(len(texts))]
    marks: dict[int, float] = {}

    class Clock(TrainerCallback):
        def on_step_end(self, _args, state, _control, **_kwargs):
            marks[state.global_step] = time.perf_counter()

    trainer = Trainer(
        model=BertForMaskedLM(config),
        args=TrainingArguments(
            output_dir=str(folder),
            per_device_train_batch_size=BATCH,
            max_steps=args.steps + args.warmup,
            learning_rate=1e-3,
            remove_unused_columns=False,
            **HF_QUIET_TRAINING,
        ),
        train_dataset=examples,
        data_collator=DataCollatorForLanguageModeling(tokenizer, whole_word_mask=True, mlm_probability=0.15, seed=0),
        callbacks=[Clock()],
    )
    trainer.train()
    return args.steps * BATCH / (marks[args.steps + args.warmup] - marks[args.warmup])


def main() -> None:
    print_machine()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--jit", action="store_true", help="compile our step with XLA (jit_compile: true)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlm-bench-") as tmp:
        work = Path(tmp)
        a, rows = ours(_recipe(work, args.steps + args.warmup, args.jit), args)
        print(f"ours (tf.distribute custom loop{', XLA' if args.jit else ''}): {a:.1f} examples/s")
        b = hugging_face(rows, work / "hf", args)
        print(f"Hugging Face Trainer, BertForMaskedLM, whole-word collator (PyTorch): {b:.1f} examples/s")
        print(f"ratio ours / Hugging Face: {a / b:.2f}x (batch {BATCH}, {SEQ} pieces, {args.steps} timed steps)")


if __name__ == "__main__":
    main()
