"""Build stage: a recipe's source plus its transforms -> the network (or static table) to
train or export. Long work (token counting, distillation) runs here, never inside export's
staging folder.

    with build_model(recipe, out_dir="build", progress=print) as built:
        built.network, built.source, built.report    # or built.table for a static model
    with tokenizer_source(recipe) as source:         # only the tokenizer the network reads
        source.tokenizer

The context keeps files the network still needs (a pruned vocabulary) alive until exit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfhub_kit.layout import ModelLayout
from tfhub_kit.networks import HFSource, Network, inspect_source, load_network
from tfhub_kit.progress import reporter
from tfhub_kit.recipe import Recipe
from tfhub_kit.staticmodel import StaticTable
from tfhub_kit.transforms import apply_transforms, build_static

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BuiltModel:
    """The built network with the source it came from (its tokenizer already transformed),
    the transforms' report, and for a static recipe the token table instead of a network."""

    network: Network
    source: HFSource
    report: dict[str, Any]
    table: StaticTable | None = None


@contextlib.contextmanager
def build_model(
    recipe: Recipe,
    *,
    out_dir: str | Path = "build",
    progress: Progress | None = None,
    static: bool = True,
    source: HFSource | None = None,
) -> Iterator[BuiltModel]:
    """Load the recipe's source and apply its transforms. With `static=False` a final
    `static` step is left out (what the training stage and teachers want). `source` is the
    recipe's source as the caller already read it (`inspect_source`), else it is read here."""
    say = reporter(progress)
    source = source or inspect_source(recipe)
    say(
        f"building a random {source.architecture.model_type} network (seed {source.scratch.seed})"
        if source.scratch
        else f"loading {source.architecture.model_type} checkpoint from {source.folder}"
    )
    network = load_network(source)
    cache_dir = ModelLayout.for_recipe(out_dir, recipe).cache
    with tempfile.TemporaryDirectory(prefix="tfhub-kit-build-") as work:
        report: dict[str, Any] = {"steps": []}
        if recipe.transforms:
            result = apply_transforms(
                network, source.tokenizer, recipe, workdir=Path(work), cache_dir=cache_dir, progress=say
            )
            network, report = result.network, result.report
            source = dataclasses.replace(source, tokenizer=result.tokenizer)
        settings = recipe.transforms[-1].static if recipe.transforms else None
        if settings is None or not static:
            yield BuiltModel(network, source, report)
            return
        table = build_static(
            network, source, recipe, settings, workdir=Path(work) / "static", cache_dir=cache_dir, progress=say
        )
        report["steps"].append({"transform": "static", **table.report})
        yield BuiltModel(network, source, report, table)


@contextlib.contextmanager
def tokenizer_source(
    recipe: Recipe,
    *,
    out_dir: str | Path = "build",
    progress: Progress | None = None,
    source: HFSource | None = None,
) -> Iterator[HFSource]:
    """The source with the tokenizer the built network reads: the recipe's own (`source`, or
    read here), or, when its transforms change the vocabulary, a build's, valid inside the
    context (the network is built for it, and not handed out)."""
    source = source or inspect_source(recipe)
    if not recipe.changes_vocabulary:
        yield source
        return
    with build_model(recipe, out_dir=out_dir, progress=progress, static=False, source=source) as built:
        yield built.source
