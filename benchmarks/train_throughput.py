"""Training examples/s: our train step vs sentence-transformers' `fit` (PyTorch), one run.

Both train all-MiniLM-L6-v2 on STS-B train pairs with the cosine-similarity regression loss
(sentence-transformers' CosineSimilarityLoss = our `sts` objective with `cosine_mse`), AdamW,
the same batch and the same truncation, on this machine's CPU. Each is timed over the same
number of steps after warm-up steps (tracing, thread pools); an example is one scored pair.
Ours cuts each step's batch to the smallest of the recipe's length buckets that holds it
(`train.seq_buckets`, default `--seq-length` / 4, / 2, 1: a few static shapes, as TPUs need;
`--no-buckets` pads every batch to `--seq-length`); sentence-transformers pads each batch to
its longest pair. Both draw shuffled batches of the same STS-B train pairs.

    .venv/bin/python benchmarks/train_throughput.py [--batch 32 --steps 30 --warmup 5 --seq-length 64 --jit]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import yaml
from _timing import HF_QUIET_TRAINING, print_machine

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["HF_HUB_OFFLINE"] = "1"

ROOT = Path(__file__).resolve().parents[1]
MODEL_RECIPE = ROOT / "models" / "tfhub-kit" / "all_minilm_l6_v2"
STSB_TRAIN = ROOT / "data" / "stsb" / "stsb-en-train.csv"


def ours(args: argparse.Namespace, work: Path) -> float:
    """Examples/s of the kit's train loop (cpu strategy) on a recipe made for the run."""
    import tensorflow as tf

    from tfhub_kit.build import build_model
    from tfhub_kit.networks import embedding_settings
    from tfhub_kit.recipe import load_recipe
    from tfhub_kit.tokenizers.build import build_preprocessor
    from tfhub_kit.train.data import dataset_function, load_tasks, row_lengths
    from tfhub_kit.train.loop import Trainer
    from tfhub_kit.train.strategy import make_strategy

    data = yaml.safe_load((MODEL_RECIPE / "recipe.yaml").read_text())
    data["evaluate"] = {}  # its data paths are relative to the sample recipe
    data["train"] = {
        "strategy": "cpu",
        "jit_compile": args.jit,
        "seq_length": args.seq_length,
        **({"seq_buckets": [args.seq_length]} if args.no_buckets else {}),
        "global_batch_size": args.batch,
        "steps": args.steps + args.warmup,
        "optimizer": {"learning_rate": 2e-5, "warmup_steps": 0},
        "objectives": [{"sts": {"data": [{"path": str(STSB_TRAIN), "format": "stsb_csv"}], "loss": "cosine_mse"}}],
    }
    (work / "recipe.yaml").write_text(yaml.safe_dump(data))
    recipe = load_recipe(work)
    strategy = make_strategy(recipe.train)
    with strategy.scope(), build_model(recipe, out_dir=work / "build") as built:
        pooling, normalize = embedding_settings(recipe, built.source)
        tasks = load_tasks(recipe, teacher=lambda *_: None)
        total = args.steps + args.warmup
        trainer = Trainer(
            built.network, tasks, strategy, recipe.train, total_steps=total, pooling=pooling, normalize=normalize
        )
        preprocessor = build_preprocessor(built.source.tokenizer, args.seq_length)
        lengths = {t.name: row_lengths(t, preprocessor) for t in tasks}
        buckets = recipe.train.bucket_lengths()
        fn = dataset_function(
            tasks, preprocessor, seed=0, start_step=0, stop_step=total, buckets=buckets, lengths=lengths
        )
        iterator = iter(strategy.distribute_datasets_from_function(fn))
        float(trainer.train_loop(iterator, tf.constant(args.warmup, tf.int64))["sts"])
        start = time.perf_counter()
        float(trainer.train_loop(iterator, tf.constant(args.steps, tf.int64))["sts"])
        seconds = time.perf_counter() - start
    return args.steps * args.batch / seconds


def sentence_transformers_fit(args: argparse.Namespace, work: Path) -> float:
    """Examples/s of SentenceTransformerTrainer (what `fit` runs) over the same steps."""
    import csv

    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, losses
    from sentence_transformers.training_args import SentenceTransformerTrainingArguments
    from transformers import TrainerCallback

    from tfhub_kit.recipe import load_recipe

    with STSB_TRAIN.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    dataset = Dataset.from_dict(
        {
            "sentence1": [r[0] for r in rows],
            "sentence2": [r[1] for r in rows],
            "score": [float(r[2]) / 5.0 for r in rows],
        }
    )
    model = SentenceTransformer(str(load_recipe(MODEL_RECIPE).source_dir), device="cpu")
    model.max_seq_length = args.seq_length
    marks: dict[int, float] = {}

    class Clock(TrainerCallback):
        def on_step_end(self, _args, state, _control, **_kwargs):
            marks[state.global_step] = time.perf_counter()

    training_args = SentenceTransformerTrainingArguments(
        output_dir=str(work / "st"),
        per_device_train_batch_size=args.batch,
        max_steps=args.steps + args.warmup,
        learning_rate=2e-5,
        warmup_steps=0,
        **HF_QUIET_TRAINING,
    )
    trainer = SentenceTransformerTrainer(
        model=model,
        args=training_args,
        train_dataset=dataset,
        loss=losses.CosineSimilarityLoss(model),
        callbacks=[Clock()],
    )
    trainer.train()
    seconds = marks[args.steps + args.warmup] - marks[args.warmup]
    return args.steps * args.batch / seconds


def main() -> None:
    print_machine()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--seq-length", type=int, default=64)
    parser.add_argument("--jit", action="store_true", help="compile our step with XLA (jit_compile: true)")
    parser.add_argument("--no-buckets", action="store_true", help="pad every batch to --seq-length")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="train-bench-") as tmp:
        work = Path(tmp)
        (work / "ours").mkdir()
        (work / "st").mkdir()
        a = ours(args, work / "ours")
        xla = ", XLA" if args.jit else ""
        shape = f"fixed length {args.seq_length}" if args.no_buckets else f"length buckets up to {args.seq_length}"
        print(f"ours (tf.distribute custom loop, {shape}{xla}): {a:.1f} examples/s")
        b = sentence_transformers_fit(args, work / "st")
        print(f"sentence-transformers fit (PyTorch, padded per batch): {b:.1f} examples/s")
        print(f"ratio ours / sentence-transformers: {a / b:.2f}x (batch {args.batch}, {args.steps} timed steps)")


if __name__ == "__main__":
    main()
