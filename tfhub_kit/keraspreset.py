"""The Keras 3 side of a build: the network and its tokenizer as a keras-hub preset.

    info = write_keras_preset(network, source, folder, probes=["A sentence."])

writes `folder/` with keras-hub's own `save_to_preset` (config.json, model.weights.h5,
tokenizer.json, assets/, metadata.json), so Keras 3 users load it with
`keras_hub.models.Backbone.from_preset(folder)` or build a task on it with
`keras_hub.models.TextClassifier.from_preset(folder, num_classes=...)`, and
`keras_hub.upload_preset("kaggle://...", folder)` publishes it as a Kaggle Keras variation.

The preset is then loaded back the way a user would and compared with the kit's network on
the probes: token ids must match exactly, and the largest difference of the sequence output
is recorded. keras-hub's backbones fix their feed-forward activation by architecture, so a
checkpoint trained with another GELU (BERT's exact erf GELU, which keras-hub's BertBackbone
computes with the tanh approximation) gives a preset that differs from the TF Hub encoder by
that approximation; the manifest and the export log say so, with the figure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfhub_kit.errors import ExportError, RecipeError
from tfhub_kit.progress import reporter
from tfhub_kit.tokenizers import flat_ids
from tfhub_kit.tokenizers.build import build_tokenize
from tfhub_kit.tokenizers.bytepair import merges_of

PRESET_DIR = "keras_preset"
EXACT = 1e-5
"""Outputs within this of the TF Hub encoder count as equal."""


@dataclass(frozen=True)
class PresetKind:
    """How one checkpoint type becomes a keras-hub preset."""

    tokenizer: str
    """keras_hub.models class name of the tokenizer."""
    family: str
    """The tokenizer family the keras-hub tokenizer implements."""
    approximate_gelu: bool
    """True if keras-hub's backbone computes GELU with the tanh approximation."""
    layer_norm_eps: float
    """The layer-norm epsilon keras-hub's backbone hard-codes."""
    uses_segments: bool


PRESET_KINDS = {
    "bert": PresetKind("BertTokenizer", "wordpiece", True, 1e-12, uses_segments=True),
    "distilbert": PresetKind("DistilBertTokenizer", "wordpiece", False, 1e-12, uses_segments=False),
    "roberta": PresetKind("RobertaTokenizer", "bytepair", False, 1e-5, uses_segments=False),
}
BERT_SPECIALS = ("[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]")
ROBERTA_SPECIALS = ("<s>", "</s>", "<pad>", "<mask>", "<unk>")


def check_preset_support(source: Any, recipe_file: Path) -> PresetKind:
    """The preset recipe for `source`, or a RecipeError naming `export.saved_models`."""
    model_type = source.architecture.model_type
    kind = PRESET_KINDS.get(model_type)
    special = source.tokenizer.special
    specials = (special.cls, special.sep, special.pad, special.mask, special.unk)
    expected = BERT_SPECIALS if kind and kind.family == "wordpiece" else ROBERTA_SPECIALS
    if kind is None or source.tokenizer.family != kind.family or specials != expected:
        raise RecipeError(
            recipe_file,
            "export.saved_models",
            f"keras_preset is not available for this {model_type} checkpoint "
            f"({source.tokenizer.family} tokenizer, special tokens {', '.join(specials)}): keras-hub's "
            "tokenizer for it would not give the same ids",
            allowed="keras_preset for bert and distilbert (WordPiece, [CLS]/[SEP]) and roberta "
            "(byte-level BPE, <s>/</s>) checkpoints; remove keras_preset for the others",
            value=model_type,
        )
    return kind


def write_keras_preset(
    network: Any,
    source: Any,
    folder: Path,
    *,
    probes: Sequence[str],
    recipe_file: Path,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Save `network` and `source`'s tokenizer to `folder` as a keras-hub preset, load it
    back and compare; returns what manifest.json records under `keras_preset`."""
    import keras_hub

    say = reporter(progress)
    kind = check_preset_support(source, recipe_file)
    tokenizer = _keras_tokenizer(kind, source.tokenizer)
    network.backbone.save_to_preset(str(folder))
    tokenizer.save_to_preset(str(folder))
    say(f"wrote {folder.name}/ ({type(network.backbone).__name__}, {kind.tokenizer}); loading it back to compare")
    backbone = keras_hub.models.Backbone.from_preset(str(folder))
    loaded_tokenizer = keras_hub.models.Tokenizer.from_preset(str(folder))
    parity = _compare(network, source.tokenizer, backbone, loaded_tokenizer, list(probes), kind)
    note = None
    if parity["max_abs_diff"] > EXACT:
        causes = _differences(kind, source, type(backbone).__name__)
        if not causes:
            raise ExportError(
                f"the keras-hub preset differs from the network by {parity['max_abs_diff']:.2e} "
                f"(more than {EXACT}) for no known reason; not writing it"
            )
        note = f"{'; '.join(causes)}: the preset's outputs differ from the TF Hub encoder by up to {parity['max_abs_diff']:.1e}"
        say(f"note: {note}")
    paths = sorted(p for p in folder.rglob("*") if p.is_file())
    return {
        "path": PRESET_DIR,
        "backbone": type(backbone).__name__,
        "tokenizer": type(loaded_tokenizer).__name__,
        "files": [p.relative_to(folder).as_posix() for p in paths],
        "bytes": sum(p.stat().st_size for p in paths),
        "parity": parity,
        "note": note,
    }


def _differences(kind: PresetKind, source: Any, backbone: str) -> list[str]:
    """What keras-hub's backbone hard-codes differently from the checkpoint's config.json."""
    causes = []
    key = source.architecture.activation_key
    activation = source.config.get(key, "gelu")
    ours = "tanh-approximate GELU" if kind.approximate_gelu else "exact (erf) GELU"
    theirs = {"gelu": "exact (erf) GELU", "gelu_new": "tanh-approximate GELU"}.get(
        activation, "tanh-approximate GELU" if activation == "gelu_pytorch_tanh" else activation
    )
    if ours != theirs:
        causes.append(f"keras-hub's {backbone} computes {ours} while config.json says {key}: {activation!r}")
    eps = float(source.config.get("layer_norm_eps", kind.layer_norm_eps))
    if eps != kind.layer_norm_eps:
        causes.append(f"keras-hub's {backbone} uses layer-norm epsilon {kind.layer_norm_eps:g}, config.json {eps:g}")
    return causes


def _keras_tokenizer(kind: PresetKind, spec: Any) -> Any:
    import keras_hub

    cls = getattr(keras_hub.models, kind.tokenizer)
    if kind.family == "wordpiece":
        return cls(vocabulary=spec.vocab(), lowercase=spec.lower_case, strip_accents=spec.strip_accents)

    model = spec.tokenizer_json["model"]
    vocabulary = {token: i for i, token in enumerate(spec.vocab())}
    return cls(vocabulary=vocabulary, merges=[f"{a} {b}" for a, b in merges_of(model)])


def _compare(network: Any, spec: Any, backbone: Any, tokenizer: Any, probes: list[str], kind: PresetKind) -> dict:
    """Token ids (must be equal) and the sequence output's largest difference on `probes`."""
    import numpy as np
    import tensorflow as tf

    ours = flat_ids(build_tokenize(spec)(tf.constant(probes))).to_list()
    out = tokenizer(tf.constant(probes))
    theirs = [list(map(int, row)) for row in (out.to_list() if hasattr(out, "to_list") else out)]
    if ours != theirs:
        bad = next(i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b)
        raise ExportError(
            f"keras-hub's {type(tokenizer).__name__} tokenizes {probes[bad]!r} as {theirs[bad]} but the "
            f"TF Hub preprocessor gives {ours[bad]}; not writing a preset that would disagree"
        )
    special = spec.special_ids()
    rows = [[special["start_of_sequence_id"], *ids, special["end_of_segment_id"]] for ids in ours]
    width = max(len(r) for r in rows)
    ids = np.array([r + [special["padding_id"]] * (width - len(r)) for r in rows], np.int32)
    mask = (np.arange(width)[None, :] < np.array([len(r) for r in rows])[:, None]).astype(np.int32)
    expected = network(
        {"input_word_ids": ids, "input_mask": mask, "input_type_ids": np.zeros_like(ids)}, training=False
    )["sequence_output"].numpy()
    feed = {"token_ids": ids, "padding_mask": mask}
    if kind.uses_segments:
        feed["segment_ids"] = np.zeros_like(ids)
    out = backbone(feed, training=False)
    got = (out["sequence_output"] if isinstance(out, dict) else out).numpy()
    diff = float(np.abs(got - expected)[mask.astype(bool)].max())
    return {"sentences": len(probes), "tokens": int(mask.sum()), "token_ids_equal": True, "max_abs_diff": diff}
