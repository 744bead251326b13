"""Masked-LM accuracy of an exported encoder on held-out sentences (`evaluate.mlm`).

    figures = masked_lm_accuracy(preprocess, encoder, sentences, special, rate=0.15, seed=0)
    figures["accuracy"], figures["baseline"]   # x100; baseline: the most frequent masked piece

Each sentence goes through the build's own preprocessing SavedModel; `rate` of its pieces
(at least one; never [CLS], [SEP] or padding) are drawn with a fixed seed and each replaced
by the mask token: single pieces, not whole words, so the figure is comparable across
vocabularies and with BERT's. The encoder's `mlm` signature predicts them all at once. The
baseline is the accuracy of always answering the most frequent masked piece on the same
positions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def masked_lm_accuracy(
    preprocess: Any,
    encoder: Any,
    sentences: Sequence[str],
    special: dict[str, int],
    *,
    rate: float = 0.15,
    seed: int = 0,
    batch_size: int = 64,
) -> dict[str, Any]:
    """Accuracy x100 of `encoder.mlm` on single pieces masked in `sentences`, beside the
    most-frequent-piece baseline on the same positions."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    skip = [special[k] for k in ("start_of_sequence_id", "end_of_segment_id", "padding_id") if k in special]
    targets: list[np.ndarray] = []
    predictions: list[np.ndarray] = []
    for start in range(0, len(sentences), batch_size):
        inputs = {k: v.numpy() for k, v in preprocess(tf.constant(list(sentences[start : start + batch_size]))).items()}
        ids = inputs["input_word_ids"]
        eligible = (inputs["input_mask"] > 0) & ~np.isin(ids, skip)
        chosen = _choose(eligible, rate, rng)
        width = max(1, int(chosen.sum(axis=1).max()))
        positions = np.zeros((ids.shape[0], width), np.int32)
        weights = np.zeros((ids.shape[0], width), bool)
        for row, cols in enumerate(chosen):
            where = np.flatnonzero(cols)
            positions[row, : where.size] = where
            weights[row, : where.size] = True
        masked = np.where(chosen, special["mask_id"], ids).astype(ids.dtype)
        out = encoder.mlm(
            {**inputs, "input_word_ids": tf.constant(masked), "masked_lm_positions": tf.constant(positions)}
        )
        guess = np.argmax(out["mlm_logits"].numpy(), axis=-1)
        truth = np.take_along_axis(ids, positions, axis=1)
        targets.append(truth[weights])
        predictions.append(guess[weights])
    truth_all = np.concatenate(targets) if targets else np.zeros(0, np.int64)
    guess_all = np.concatenate(predictions) if predictions else np.zeros(0, np.int64)
    total = max(truth_all.size, 1)
    return {
        "accuracy": 100 * float(np.sum(truth_all == guess_all)) / total,
        "baseline": 100 * float(np.bincount(truth_all).max() if truth_all.size else 0) / total,
        "masked": int(truth_all.size),
        "sentences": len(sentences),
    }


def _choose(eligible: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Each eligible position with probability `rate`; a row that drew none gets one of its
    eligible positions at random. Rows are drawn in order, so the choice depends only on
    the seed and the inputs."""
    chosen = eligible & (rng.random(eligible.shape) < rate)
    for row in np.flatnonzero(eligible.any(axis=1) & ~chosen.any(axis=1)):
        cols = np.flatnonzero(eligible[row])
        chosen[row, cols[rng.integers(cols.size)]] = True
    return chosen
