"""Layer pruning: keep a listed subset of transformer layers, copy every other weight.

    result = prune_layers(network, tokenizer, keep=(0, 2, 4))   # every other layer of 6

The usual student initialisation for distillation (a student from every k-th teacher layer).
"""

from __future__ import annotations

import re

from tfhub_kit.errors import RecipeError
from tfhub_kit.networks import Network
from tfhub_kit.tokenizers import TokenizerSpec
from tfhub_kit.transforms.result import TransformResult

_LAYER = re.compile(r"^transformer_layer_(\d+)/")


def prune_layers(network: Network, tokenizer: TokenizerSpec, *, keep: tuple[int, ...]):
    if not keep or max(keep) >= network.num_layers or list(keep) != sorted(set(keep)):
        raise RecipeError(
            "recipe",
            "transforms.prune_layers.keep",
            "names layers the network does not have",
            allowed=f"ascending indices from 0 to {network.num_layers - 1}",
            value=list(keep),
        )
    old = network.weights_by_path()

    def weight(path: str):
        match = _LAYER.match(path)
        if match:
            path = f"transformer_layer_{keep[int(match[1])]}/" + path[match.end() :]
        return old[path]

    before = network.parameters()
    pruned = network.rebuilt({"num_layers": len(keep)}, weight)
    report = {
        "layers_before": network.num_layers,
        "layers_after": pruned.num_layers,
        "kept_layers": list(keep),
        "parameters_before": before,
        "parameters_after": pruned.parameters(),
    }
    return TransformResult(pruned, tokenizer, report)
