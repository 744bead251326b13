"""Transforms a recipe lists, applied in order between loading the network and exporting:
`prune_vocab` (smaller vocabularies) and `prune_layers` (fewer transformer layers) return a
new network and tokenizer plus a report (recorded in the manifest and printed by export);
`static`, always last, turns the network into a token table (`build_static`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tfhub_kit.layout import sha256_file
from tfhub_kit.networks import HFSource, Network, embedding_settings, pool
from tfhub_kit.recipe import Recipe, StaticSection
from tfhub_kit.tokenizers import TokenizerSpec, build_preprocessor
from tfhub_kit.transforms.static import StaticTable


@dataclass(frozen=True)
class TransformResult:
    network: Network
    tokenizer: TokenizerSpec
    report: dict[str, Any]


def apply_transforms(
    network: Network,
    tokenizer: TokenizerSpec,
    recipe: Recipe,
    *,
    workdir: Path,
    cache_dir: Path,
    progress: Callable[[str], None] | None = None,
) -> TransformResult:
    """Run the recipe's transforms in order. `workdir` holds files the export still needs
    (a pruned vocabulary); `cache_dir` keeps token counts between runs."""
    from tfhub_kit.transforms.prune_layers import prune_layers
    from tfhub_kit.transforms.prune_vocab import prune_vocab_from_recipe

    say = progress or (lambda _msg: None)
    reports = []
    for step in recipe.transforms:
        if step.name == "static":
            continue  # the last step; build_static runs it
        say(f"transform: {step.name}")
        if step.name == "prune_vocab":
            result = prune_vocab_from_recipe(
                network, tokenizer, step.settings, recipe, workdir=workdir, cache_dir=cache_dir, progress=say
            )
        else:
            result = prune_layers(network, tokenizer, keep=step.settings.keep)
        network, tokenizer = result.network, result.tokenizer
        reports.append({"transform": step.name, **result.report})
    return TransformResult(network, tokenizer, {"steps": reports})


def build_static(
    network: Network,
    source: HFSource,
    recipe: Recipe,
    settings: StaticSection,
    *,
    workdir: Path,
    cache_dir: Path,
    progress: Callable[[str], None] | None = None,
) -> StaticTable:
    """Distil `network` into a static table as the recipe's `static:` step says, refining
    it on the teacher's sentence vectors if `refine:` is set (those are cached in
    `cache_dir`, keyed by checkpoint files, earlier transforms, pooling and sentences)."""
    from tfhub_kit.transforms.refine import read_sentences, refine_static, teacher_vectors
    from tfhub_kit.transforms.static import distill_static, read_custom_words

    say = progress or (lambda _msg: None)
    say("transform: static")
    words_file = recipe.data_path(settings.vocabulary) if settings.vocabulary else None
    table = distill_static(
        network,
        source.tokenizer,
        settings,
        workdir=workdir,
        custom_words=read_custom_words(words_file) if words_file else (),
        words_file=words_file,
        progress=say,
    )
    if settings.refine is None:
        return table
    sentences = read_sentences(
        [recipe.data_path(f) for f in settings.refine.corpora], max_sentences=settings.refine.max_sentences
    )
    pooling, _ = embedding_settings(recipe, source)
    teacher_id = [*(sha256_file(p) for p in source.files), repr(recipe.transforms[:-1]), pooling]
    key = hashlib.sha256("\n".join(teacher_id + [str(recipe.export.seq_length)]).encode())
    for sentence in sentences:
        key.update(sentence.encode("utf-8") + b"\n")
    cache = cache_dir / f"teacher-{key.hexdigest()[:20]}.npy"
    if cache.is_file():
        say(f"teacher vectors from cache {cache}")
        targets = np.load(cache)
    else:
        embed = _teacher(network, source, recipe.export.seq_length, pooling)
        say(f"teacher: embedding {len(sentences):,} sentences ({pooling} pooling)")
        targets = teacher_vectors(embed, sentences, progress=say)
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f".{cache.stem}.tmp-{os.getpid()}.npy")
        np.save(tmp, targets)
        tmp.replace(cache)
    return refine_static(table, sentences, targets, settings.refine, progress=say)


def _teacher(network: Network, source: HFSource, seq_length: int, pooling: str) -> Callable[[list[str]], np.ndarray]:
    """strings -> the network's pooled sentence vectors, before any normalisation."""
    import tensorflow as tf

    preprocessor = build_preprocessor(source.tokenizer, seq_length)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def embed(sentences: tf.Tensor) -> tf.Tensor:
        inputs = preprocessor.pack_dynamic(sentences)
        return pool(network(inputs), inputs["input_mask"], pooling=pooling, normalize=False)

    return lambda batch: embed(tf.constant(batch)).numpy()
