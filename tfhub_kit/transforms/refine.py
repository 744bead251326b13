"""Refine a static table on unlabeled sentences, in the spirit of model2vec's tokenlearn.

    table = refine_static(table, sentences, targets, settings, progress=print)

Targets are the teacher's sentence vectors (pooled, before any normalisation) projected onto
the table's PCA components, so they live in the space the rows were distilled into. Adam
then fits the rows so each sentence's mean of rows points where its target does
(loss: 1 - cosine). Rows of tokens the sentences never use keep their distilled values.
A held-out slice of the sentences reports the mean cosine to the targets before and after.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from tfhub_kit.progress import reporter
from tfhub_kit.recipe import RefineSection
from tfhub_kit.staticmodel import StaticTable, mean_rows, sentence_token_ids
from tfhub_kit.tokenizers.build import build_tokenize

Progress = Callable[[str], None]


def refine_static(
    table: StaticTable,
    sentences: Sequence[str],
    targets: np.ndarray,
    settings: RefineSection,
    *,
    progress: Progress | None = None,
) -> StaticTable:
    """Fit `table`'s rows to the teacher's `targets` (one per sentence) and return the new table."""
    import keras
    import tensorflow as tf

    say = reporter(progress)
    start = time.perf_counter()
    projected = targets if table.pca is None else targets.astype(np.float64) @ table.pca.components
    projected = np.asarray(projected, dtype=np.float32)
    tokenize = build_tokenize(table.tokenizer)
    chunks = [
        sentence_token_ids(
            tokenize, tf.constant(list(sentences[i : i + 4096])), unk_id=table.unk_id, max_tokens=table.max_tokens
        )
        for i in range(0, len(sentences), 4096)
    ]
    ids = tf.concat(chunks, axis=0)
    usable = np.flatnonzero(ids.row_lengths().numpy() > 0)
    rng = np.random.default_rng(settings.seed)
    rng.shuffle(usable)
    held = usable[: min(1000, len(usable) // 20)]
    train = usable[len(held) :]

    embeddings = keras.Variable(table.vectors, name="static_embeddings")
    optimizer = keras.optimizers.Adam(settings.learning_rate)

    def cosine(batch_ids: tf.RaggedTensor, batch_targets: tf.Tensor) -> tf.Tensor:
        pred = tf.math.l2_normalize(mean_rows(embeddings.value, batch_ids), axis=-1)
        return tf.reduce_sum(pred * tf.math.l2_normalize(batch_targets, axis=-1), axis=-1)

    @tf.function
    def step(batch_ids: tf.RaggedTensor, batch_targets: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(1.0 - cosine(batch_ids, batch_targets))
        grads = tape.gradient(loss, [embeddings.value])
        optimizer.apply_gradients(zip(grads, [embeddings], strict=False))
        return loss

    def held_out_cosine() -> float:
        if not len(held):
            return float("nan")
        return float(tf.reduce_mean(cosine(tf.gather(ids, held), tf.constant(projected[held]))))

    before = held_out_cosine()
    say(f"refining on {len(train):,} sentences ({len(held):,} held out), {settings.epochs} epochs")
    losses = []
    for epoch in range(settings.epochs):
        order = rng.permutation(train)
        batch_losses = []
        for first in range(0, len(order), settings.batch_size):
            rows = order[first : first + settings.batch_size]
            batch_losses.append(float(step(tf.gather(ids, rows), tf.constant(projected[rows]))))
        losses.append(float(np.mean(batch_losses)) if batch_losses else float("nan"))
        say(f"  epoch {epoch + 1}/{settings.epochs}: loss {losses[-1]:.4f} ({time.perf_counter() - start:.0f} s)")
    after = held_out_cosine()
    say(f"held-out cosine to the teacher: {before:.4f} -> {after:.4f}")
    return table.with_vectors(
        np.asarray(embeddings.numpy()),
        refine={
            "sentences": len(train),
            "held_out": len(held),
            "epochs": settings.epochs,
            "loss_per_epoch": [round(x, 5) for x in losses],
            "held_out_cosine_before": round(before, 5),
            "held_out_cosine_after": round(after, 5),
            "seconds": round(time.perf_counter() - start, 1),
        },
    )
