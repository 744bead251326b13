"""Transforms a recipe lists, applied in order between loading the network and exporting:
`prune_vocab` (smaller vocabularies) and `prune_layers` (fewer transformer layers).

Each takes the network and its tokenizer settings and returns new ones plus a report
(recorded in the manifest and printed by export).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfhub_kit.networks import Network
from tfhub_kit.recipe import Recipe
from tfhub_kit.tokenizers import TokenizerSpec


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
