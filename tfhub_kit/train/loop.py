"""The training loop, split the Orbit way: `Trainer` owns the step (losses, gradients,
optimizer, all inside `strategy.run`), `fit` owns the outer loop (checkpoints and resume,
evaluation and the best checkpoint, progress, TensorBoard).

    summary = fit(trainer, strategy, dataset_fn, run_dir=..., evaluator=..., progress=print)

Losses are scaled so that summing over replicas gives the mean over the global batch;
gradients are all-reduced, clipped by global norm and applied once per step, so N replicas
compute what one would on the same global batch.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from tfhub_kit.errors import TrainError
from tfhub_kit.files import write_json_atomic
from tfhub_kit.heads import mlm_head, sentence_order_head
from tfhub_kit.networks import Network, pool
from tfhub_kit.progress import bar_for, reporter
from tfhub_kit.recipe import OptimizerSection, TrainSection
from tfhub_kit.train import objectives
from tfhub_kit.train.checkpoints import check_finite, check_state_file, remove_failed_saves, restore_newest_intact
from tfhub_kit.train.data import Task

Progress = Callable[[str], None]
STATE_FILE = "state.json"
CKPT_DIR = "ckpt"
BEST_DIR = "best"
LOGS_DIR = "logs"


def make_schedule(settings: OptimizerSection, total_steps: int) -> Any:
    """Linear warm-up to the peak learning rate, then linear or cosine decay to zero at
    `total_steps` (or constant)."""
    import keras

    peak, warmup, decay = settings.learning_rate, settings.warmup_steps, settings.decay

    class WarmupDecay(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step: Any) -> Any:
            step = tf.cast(step, tf.float32)
            warm = peak * (step + 1.0) / max(warmup, 1)
            progress = tf.clip_by_value((step - warmup) / max(total_steps - warmup, 1), 0.0, 1.0)
            if decay == "linear":
                after = peak * (1.0 - progress)
            elif decay == "cosine":
                after = peak * 0.5 * (1.0 + tf.cos(math.pi * progress))
            else:
                after = tf.constant(peak, tf.float32)
            return tf.where(step < warmup, warm, after)

        def get_config(self) -> dict[str, Any]:
            return {"peak": peak, "warmup": warmup, "decay": decay, "total_steps": total_steps}

    return WarmupDecay()


class Trainer:
    """The train step: every task's loss on its batch, weighted and summed, one update."""

    def __init__(
        self,
        network: Network,
        tasks: list[Task],
        strategy: Any,
        settings: TrainSection,
        *,
        total_steps: int,
        pooling: str,
        normalize: bool,
    ) -> None:
        import keras

        self.network, self.tasks, self.strategy, self.settings = network, tasks, strategy, settings
        self.pooling, self.normalize = pooling, normalize
        self.schedule = make_schedule(settings.optimizer, total_steps)
        with strategy.scope():
            self.mlm_head = mlm_head(network) if any(t.kind == "mlm" for t in tasks) else None
            # text infilling trains BART's decoder too (the Network holds the encoder side)
            self.seq2seq = any(t.kind == "infilling" for t in tasks)
            sop = any(t.options.get("sentence_order") for t in tasks)
            self.sop_head = sentence_order_head(network) if sop else None
            self.optimizer = keras.optimizers.AdamW(
                learning_rate=self.schedule, weight_decay=settings.optimizer.weight_decay
            )
            self.optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
            self.optimizer.build(self.trainable_variables)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        compute = self._compute
        self.compute = tf.function(compute, jit_compile=True) if settings.jit_compile else compute
        self.train_loop = tf.function(self._train_loop)

    @property
    def trainable_variables(self) -> list[Any]:
        """The network's and the pretraining heads' (dropped at export)."""
        own = list(self.network.backbone.trainable_variables) if self.seq2seq else self.network.trainable_variables
        seen = {id(v) for v in own}  # the head shares the token embedding
        head = [v for h in self.heads().values() for v in h.trainable_variables]
        return own + [v for v in head if id(v) not in seen]

    # --- per replica ---------------------------------------------------------------

    def _embed(self, ids: dict[str, Any]) -> Any:
        out = self.network(ids, training=True)
        return tf.cast(pool(out, ids["input_mask"], pooling=self.pooling, normalize=False), tf.float32)

    def _loss(self, task: Task, batch: dict[str, Any]) -> Any:
        """The task's loss on this replica's batch, scaled for summing over replicas."""
        replicas = self.strategy.num_replicas_in_sync
        if task.kind == "mlm":
            per_example = self.mlm_losses(batch)[0]
            return tf.reduce_sum(per_example) / task.batch_size
        if task.kind == "infilling":
            per_example = self.infilling_losses(batch)[0]
            return tf.reduce_sum(per_example) / task.batch_size
        if task.kind == "distill":
            vec = self._embed(batch["text"])
            if task.options["loss"] == "similarity":
                return objectives.similarity_mse(vec, batch["target"]) / replicas
            if self.normalize:
                vec = tf.math.l2_normalize(vec, axis=-1)
            return tf.reduce_sum(objectives.distill_mse(vec, batch["target"])) / task.batch_size
        if task.kind == "sts":
            both = self._embed(_concat([batch["first"], batch["second"]]))
            a, b = tf.split(both, 2)
            if task.options["loss"] == "cosent":
                return objectives.cosent(a, b, batch["score"], task.options["scale"]) / replicas
            return tf.reduce_sum(objectives.cosine_mse(a, b, batch["score"])) / task.batch_size
        temperature = task.options["temperature"]
        if task.kind == "nli":
            vecs = self._embed(_concat([batch["anchor"], batch["positive"], batch["negative"]]))
            a, p, n = tf.split(vecs, 3)
            return objectives.info_nce(a, p, n, temperature) / replicas
        if task.kind == "pairs":
            vecs = self._embed(_concat([batch["anchor"], batch["positive"]]))
        else:
            vecs = self._embed(_concat([batch["text"], batch["text"]]))  # dropout makes the two views differ
        a, p = tf.split(vecs, 2)
        return objectives.info_nce(a, p, None, temperature) / replicas

    def mlm_losses(self, batch: dict[str, Any], training: bool = True) -> tuple[Any, Any, Any]:
        """Per example, the mean cross-entropy over its masked positions (plus the
        sentence-order cross-entropy when the batch has `sentence_order_label`), the argmax
        predictions [batch, max_predictions] and the sentence-order predictions (or None)."""
        out = self.network(batch, training=training)
        assert self.mlm_head is not None
        logits = self.mlm_head(out["sequence_output"], mask_positions=batch["masked_lm_positions"])
        logits = tf.cast(logits, tf.float32)
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=batch["masked_lm_ids"], logits=logits)
        weights = batch["masked_lm_weights"]
        per_example = tf.reduce_sum(ce * weights, axis=1) / tf.maximum(tf.reduce_sum(weights, axis=1), 1.0)
        order = None
        if "sentence_order_label" in batch:
            assert self.sop_head is not None
            order_logits = tf.cast(self.sop_head(out["pooled_output"]), tf.float32)
            labels = batch["sentence_order_label"]
            per_example += tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=order_logits)
            order = tf.argmax(order_logits, axis=-1, output_type=tf.int32)
        return per_example, tf.argmax(logits, axis=-1, output_type=tf.int32), order

    def infilling_losses(self, batch: dict[str, Any], training: bool = True) -> tuple[Any, Any]:
        """Per example, the mean cross-entropy of the decoder's reconstruction of the original
        row (teacher forcing), and the argmax predictions [batch, seq]. The LM head is BART's:
        the token embedding, transposed."""
        backbone = self.network.backbone
        names = ("encoder_token_ids", "encoder_padding_mask", "decoder_token_ids", "decoder_padding_mask")
        out = backbone({k: batch[k] for k in names}, training=training)
        logits = tf.cast(backbone.token_embedding(out["decoder_sequence_output"], reverse=True), tf.float32)
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=batch["labels"], logits=logits)
        weights = batch["label_weights"]
        per_example = tf.reduce_sum(ce * weights, axis=1) / tf.maximum(tf.reduce_sum(weights, axis=1), 1.0)
        return per_example, tf.argmax(logits, axis=-1, output_type=tf.int32)

    def _compute(self, batch: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
        variables = [v.value for v in self.trainable_variables]
        with tf.GradientTape() as tape:
            losses = {task.name: self._loss(task, batch[task.name]) for task in self.tasks}
            total = tf.add_n([task.weight * losses[task.name] for task in self.tasks])
        return losses, tape.gradient(total, variables)

    def _replica_step(self, batch: dict[str, Any]) -> dict[str, Any]:
        losses, grads = self.compute(batch)
        # Variables no loss reaches (BERT's pooler under mean pooling) are left alone,
        # weight decay included.
        pairs = [(g, v) for g, v in zip(grads, self.trainable_variables, strict=False) if g is not None]
        # Embedding gradients come as IndexedSlices with repeated rows; dense, they sum the
        # repeats, so the global norm (and the clipping) is that of the true gradient.
        grads = [tf.convert_to_tensor(g) for g, _ in pairs]
        variables = [v for _, v in pairs]
        ctx = tf.distribute.get_replica_context()
        replicas = self.strategy.num_replicas_in_sync
        if replicas > 1:
            grads = ctx.all_reduce(tf.distribute.ReduceOp.SUM, grads)
        if self.settings.optimizer.clip_norm:
            grads, _ = tf.clip_by_global_norm(grads, self.settings.optimizer.clip_norm)
        if replicas > 1:  # the optimizer sums over replicas again
            grads = [g / replicas for g in grads]
        self.optimizer.apply_gradients(zip(grads, variables, strict=False))
        self.step.assign_add(1)
        return losses

    # --- across replicas ------------------------------------------------------------

    def _train_loop(self, iterator: Any, num_steps: Any) -> dict[str, Any]:
        """`num_steps` steps inside one tf.function (what keeps a TPU busy); returns the
        mean of each loss over them."""
        names = [task.name for task in self.tasks]
        sums = tf.zeros([len(names)])
        for _ in tf.range(num_steps):
            per_replica = self.strategy.run(self._replica_step, args=(next(iterator),))
            reduce = self.strategy.reduce
            sums += tf.stack([reduce(tf.distribute.ReduceOp.SUM, per_replica[n], axis=None) for n in names])
        means = sums / tf.cast(num_steps, tf.float32)
        return {name: means[i] for i, name in enumerate(names)}

    def checkpoint_weights(self) -> list[Any]:
        """The weights a checkpoint saves (network and heads), to check they are finite first."""
        heads = [w for head in self.heads().values() for w in head.weights]
        return [*self.network.backbone.weights, *heads]

    def tracing_counts(self) -> dict[str, int]:
        """How often the loop and the (XLA) gradient function were traced."""
        counts = {"train_loop": self.train_loop.experimental_get_tracing_count()}
        if self.settings.jit_compile:
            counts["compute"] = self.compute.experimental_get_tracing_count()  # type: ignore[union-attr]
        return counts

    def checkpoint(self) -> Any:
        """Model, optimizer, step and the dropout generators' state: all a resume needs."""
        backbone = self.network.backbone
        rng = [v for v in backbone.variables if "seed_generator" in v.path]
        return tf.train.Checkpoint(model=backbone, optimizer=self.optimizer, step=self.step, rng=rng, **self.heads())

    def heads(self) -> dict[str, Any]:
        """The pretraining heads by checkpoint name (export reads `mlm_head` back)."""
        heads = {"mlm_head": self.mlm_head, "sop_head": self.sop_head}
        return {name: head for name, head in heads.items() if head is not None}


@dataclass
class Evaluator:
    """Scores the network: {name: Spearman or accuracy x100}. The best checkpoint has the
    highest mean of the `choose_on` scores (of all scores when empty); the others are only
    reported."""

    score: Callable[[], dict[str, float]]
    choose_on: tuple[str, ...] = ()


def fit(
    trainer: Trainer,
    dataset_fn: Callable[[int], Callable[[Any], Any]],
    *,
    total_steps: int,
    run_dir: Path,
    chief: bool,
    evaluator: Evaluator | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Train to `total_steps`, resuming from the run's latest checkpoint; returns the summary
    fields the run's train.json records. `dataset_fn(start_step)` gives the input function."""
    say = reporter(progress) if chief else (lambda _msg: None)
    settings, strategy = trainer.settings, trainer.strategy
    ckpt_dir = run_dir / CKPT_DIR
    write_dir = ckpt_dir if chief else Path(tempfile.mkdtemp(prefix="tfhub-kit-worker-ckpt-"))
    ckpt = trainer.checkpoint()
    if chief:
        remove_failed_saves(ckpt_dir, say)
        remove_failed_saves(ckpt_dir / BEST_DIR, say)
        check_state_file(ckpt_dir, say)
    latest = restore_newest_intact(ckpt, ckpt_dir, say, repair=chief) if ckpt_dir.is_dir() else None
    manager = tf.train.CheckpointManager(ckpt, str(write_dir), max_to_keep=2, step_counter=trainer.step)
    best_ckpt = tf.train.Checkpoint(model=trainer.network.backbone, step=trainer.step, **trainer.heads())
    best_manager = tf.train.CheckpointManager(best_ckpt, str(write_dir / BEST_DIR), max_to_keep=1)
    state: dict[str, Any] = {"best": None, "evals": [], "losses": []}
    if latest:
        state = _read_state(ckpt_dir / STATE_FILE, say) or state
        done = int(trainer.step.numpy())
        state["evals"] = [e for e in state["evals"] if e["step"] <= done]
        state["losses"] = [e for e in state["losses"] if e["step"] <= done]
        say(f"resuming from step {done} ({latest})")
    start = int(trainer.step.numpy())
    if start > total_steps:
        raise TrainError(f"{run_dir}: the checkpoint is at step {start}, past this recipe's {total_steps} steps")
    writer = tf.summary.create_file_writer(str(run_dir / LOGS_DIR)) if chief else tf.summary.create_noop_writer()
    iterator = iter(strategy.distribute_datasets_from_function(dataset_fn(start)))
    examples_per_step = sum(t.batch_size for t in trainer.tasks)
    marks = [settings.log_every, settings.checkpoint_every] + (
        [settings.eval_every] if evaluator and settings.eval_every else []
    )
    step = start
    steps_bar = bar_for(total_steps - start, desc="training", unit="step") if chief else bar_for(0)
    t0 = time.perf_counter()
    window_start, window_steps = t0, 0
    while step < total_steps:
        n = min(total_steps, *(step + m - step % m for m in marks)) - step
        losses = {k: float(v) for k, v in trainer.train_loop(iterator, tf.constant(n, tf.int64)).items()}
        step += n
        steps_bar.update(n)
        window_steps += n
        check_finite(losses, None, step=step, where=run_dir, last_good=latest)
        now = time.perf_counter()
        if step % settings.log_every == 0 or step == total_steps:
            rate = window_steps / max(now - window_start, 1e-9)
            lr = float(trainer.schedule(step))
            eta = (total_steps - step) / max(rate, 1e-9)
            say(
                f"step {step}/{total_steps}  {rate:.2f} steps/s  {rate * examples_per_step:.1f} examples/s  "
                f"ETA {_duration(eta)}  lr {lr:.3g}  " + "  ".join(f"{k} {v:.4f}" for k, v in losses.items())
            )
            with writer.as_default(step=step):
                for name, value in losses.items():
                    tf.summary.scalar(f"loss/{name}", value)
                tf.summary.scalar("loss/total", sum(t.weight * losses[t.name] for t in trainer.tasks))
                tf.summary.scalar("learning_rate", lr)
                tf.summary.scalar("throughput/steps_per_second", rate)
                tf.summary.scalar("throughput/examples_per_second", rate * examples_per_step)
            state["losses"].append({"step": step, **losses})
            window_steps = 0
        evaluated = False
        if evaluator and settings.eval_every and (step % settings.eval_every == 0 or step == total_steps):
            scores = evaluator.score()
            evaluated = True
            main = float(np.mean([scores[k] for k in evaluator.choose_on] or list(scores.values())))
            state["evals"].append({"step": step, **scores})
            new_best = state["best"] is None or main > state["best"]["score"]
            say(
                f"eval at step {step}: "
                + "  ".join(f"{k} {v:.2f}" for k, v in scores.items())
                + ("  (new best)" if new_best else "")
            )
            with writer.as_default(step=step):
                for name, value in scores.items():
                    tag = f"eval/{name}" if name.endswith("accuracy") else f"eval/{name}/spearman"
                    tf.summary.scalar(tag, value)
            if new_best:
                check_finite(losses, trainer.checkpoint_weights(), step=step, where=run_dir, last_good=latest)
                best_manager.save(checkpoint_number=step)
                state["best"] = {"step": step, "score": main, "scores": scores, "chosen_on": list(evaluator.choose_on)}
            if chief:
                write_json_atomic(ckpt_dir / STATE_FILE, state)
        if step % settings.checkpoint_every == 0 or step == total_steps:
            check_finite(losses, trainer.checkpoint_weights(), step=step, where=run_dir, last_good=latest)
            latest = manager.save(checkpoint_number=step)
            if chief:
                write_json_atomic(ckpt_dir / STATE_FILE, state)
            say(f"checkpoint at step {step}" + (" (after eval)" if evaluated else ""))
        writer.flush()
        if window_steps == 0:  # a new window starts after logging, evaluation and checkpoint
            window_start = time.perf_counter()
    steps_bar.close()
    if not chief:
        shutil.rmtree(write_dir, ignore_errors=True)
    return {
        "steps": total_steps,
        "resumed_from_step": start,
        "seconds": round(time.perf_counter() - t0, 1),
        "final_losses": state["losses"][-1] if state["losses"] else None,
        "evals": state["evals"],
        "best": state["best"],
        "tracing_counts": trainer.tracing_counts(),
    }


def _concat(parts: list[dict[str, Any]]) -> dict[str, Any]:
    return {k: tf.concat([p[k] for p in parts], axis=0) for k in parts[0]}


def _read_state(path: Path, say: Callable[[str], None]) -> dict[str, Any] | None:
    """The run's own state (evaluations, losses, best), or None if missing or damaged."""
    if not path.is_file():
        return None
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(state, dict) and {"best", "evals", "losses"} <= state.keys():
            return state
    except (json.JSONDecodeError, UnicodeDecodeError):
        pass
    say(f"warning: {path} is damaged; the run goes on without its earlier evaluations")
    return None


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return (
        f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"
    )
