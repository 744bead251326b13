"""The figures evaluate and training report: Pearson, Spearman (average ranks), cosine, retrieval.

Plain numpy; `tests/test_evaluate.py` checks them against scipy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

Values = Sequence[float] | np.ndarray
"""A 1-D series of numbers: a list or a numpy array."""


def non_finite(arrays: Mapping[str, Any]) -> list[str]:
    """The names of the arrays (weights, outputs) that hold a NaN or an Inf."""
    return [name for name, value in arrays.items() if not np.all(np.isfinite(np.asarray(value)))]


def average_ranks(values: Values) -> np.ndarray:
    """Ranks 1..n; tied values share the average of their ranks."""
    x = np.asarray(values, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.arange(1, len(x) + 1)
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    return (np.bincount(inverse, weights=ranks) / counts)[inverse]


def pearson(a: Values, b: Values) -> float:
    return float(np.corrcoef(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))[0, 1])


def spearman(a: Values, b: Values) -> float:
    """Pearson correlation of average ranks (ties averaged), as scipy.stats.spearmanr."""
    return pearson(average_ranks(a), average_ranks(b))


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return np.sum(a * b, axis=1)


def retrieval_accuracy(source: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """Share of rows whose nearest neighbour (cosine) on the other side is their own pair,
    source->target and target->source."""
    s = source / np.maximum(np.linalg.norm(source, axis=1, keepdims=True), 1e-12)
    t = target / np.maximum(np.linalg.norm(target, axis=1, keepdims=True), 1e-12)
    sim = s @ t.T
    gold = np.arange(len(s))
    return float(np.mean(sim.argmax(axis=1) == gold)), float(np.mean(sim.argmax(axis=0) == gold))
