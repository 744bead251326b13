"""Run a recipe's `transforms:` list in order, and the `static` step that ends one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from tfhub_kit.datasets import read_sentences
from tfhub_kit.errors import RecipeError
from tfhub_kit.files import sha256_file
from tfhub_kit.networks import HFSource, Network, embedding_settings
from tfhub_kit.progress import reporter
from tfhub_kit.recipe import Recipe, StaticSection
from tfhub_kit.staticmodel import StaticTable
from tfhub_kit.teacher import cached_vectors, network_embedder
from tfhub_kit.tokenizers import TokenizerSpec
from tfhub_kit.transforms.extend_vocab import extend_vocab_from_recipe
from tfhub_kit.transforms.prune_layers import prune_layers
from tfhub_kit.transforms.prune_vocab import prune_vocab_from_recipe
from tfhub_kit.transforms.refine import refine_static
from tfhub_kit.transforms.result import TransformResult
from tfhub_kit.transforms.static import distill_static, read_custom_words


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
    say = reporter(progress)
    reports = []
    for i, step in enumerate(recipe.transforms):
        check_supported(recipe, i, tokenizer, network)
        if step.name == "static":
            continue  # the last step; build_static runs it
        say(f"transform: {step.name}")
        if step.name == "prune_vocab":
            result = prune_vocab_from_recipe(
                network, tokenizer, step.settings, recipe, workdir=workdir, cache_dir=cache_dir, progress=say
            )
        elif step.name == "extend_vocab":
            result = extend_vocab_from_recipe(
                network, tokenizer, step.settings, recipe, workdir=workdir, cache_dir=cache_dir, progress=say
            )
        else:
            result = prune_layers(network, tokenizer, keep=step.settings.keep)
        network, tokenizer = result.network, result.tokenizer
        reports.append({"transform": step.name, **result.report})
    return TransformResult(network, tokenizer, {"steps": reports})


WORDPIECE_ONLY = ("extend_vocab",)


def check_supported(recipe: Recipe, index: int, tokenizer: TokenizerSpec, network: Network) -> None:
    """Refuse a transform this model's family or architecture cannot take, naming the step."""
    name = recipe.transforms[index].name
    if name in WORDPIECE_ONLY and tokenizer.family != "wordpiece":
        raise RecipeError(
            recipe.file,
            f"transforms[{index}].{name}",
            f"not supported yet for a {tokenizer.family} tokenizer",
            allowed="WordPiece checkpoints (bert, distilbert and WordPiece RoBERTa such as KLUE's)",
            value=network.architecture.model_type,
        )
    if name == "prune_layers" and network.architecture.model_type in ("albert", "bart"):
        raise RecipeError(
            recipe.file,
            f"transforms[{index}].prune_layers",
            "not supported for this architecture (ALBERT shares one set of weights across its "
            "layers; BART's layer count is shared by its encoder and decoder)",
            allowed="bert, distilbert, roberta, xlm-roberta",
            value=network.architecture.model_type,
        )


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
    say = reporter(progress)
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
    key = [
        *(sha256_file(p) for p in source.files),
        repr(recipe.transforms[:-1]),
        pooling,
        str(recipe.export.seq_length),
    ]

    def embedder() -> Callable[[list[str]], np.ndarray]:
        return network_embedder(
            network, source.tokenizer, seq_length=recipe.export.seq_length, pooling=pooling, normalize=False
        )

    targets = cached_vectors(embedder, sentences, cache_dir=cache_dir, key=key, progress=say)
    return refine_static(table, sentences, targets, settings.refine, progress=say)
