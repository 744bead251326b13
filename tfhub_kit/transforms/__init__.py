"""Transforms a recipe lists, applied in order between loading the network and exporting:
`prune_vocab` (smaller vocabularies), `extend_vocab` (pieces for a new language) and
`prune_layers` (fewer transformer layers) return a
new network and tokenizer plus a report (recorded in the manifest and printed by export);
`static`, always last, turns the network into a token table (`build_static`).
"""

from tfhub_kit.transforms.apply import apply_transforms, build_static, check_supported
from tfhub_kit.transforms.result import TransformResult

__all__ = ["TransformResult", "apply_transforms", "build_static", "check_supported"]
