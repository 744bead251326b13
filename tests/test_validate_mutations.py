"""Deliberately broken exports: each is caught by the check meant to catch it.

Every variant starts from a real tiny export and breaks one thing, the way real exports go
wrong: by wrapping the loaded SavedModel in a faulty module and saving it again, by editing
a weight, or by deleting a file.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import copy_build

from tfhub_kit.layout import BuildLayout
from tfhub_kit.validate import validate_build

INPUTS = ("input_word_ids", "input_mask", "input_type_ids")


def _resave(obj, path: Path, signatures) -> None:
    """Save `obj` (which may still read assets from `path`) beside `path`, then swap."""
    import tensorflow as tf

    new = path.with_name(path.name + ".new")
    tf.saved_model.save(obj, str(new), signatures=signatures)
    shutil.rmtree(path)
    new.rename(path)


def _copy(build: BuildLayout, dest: Path, kinds: tuple[str, ...]) -> BuildLayout:
    """A copy of the build with only `kinds` in it (and in its manifest)."""
    dest.mkdir(parents=True)
    manifest = build.read_manifest().to_json()
    manifest["saved_models"] = {k: v for k, v in manifest["saved_models"].items() if k in kinds}
    for kind in kinds:
        shutil.copytree(build.saved_model(kind), dest / kind)
    (dest / "manifest.json").write_text(json.dumps(manifest))
    return BuildLayout(dest)


def _encoder_wrapper(
    path: Path,
    *,
    call: Callable | None = None,
    input_dtype=None,
    training_argument: bool = True,
    rename: dict[str, str] | None = None,
) -> None:
    """Replace the encoder at `path` with a wrapper of the loaded one."""
    import tensorflow as tf

    inner = tf.saved_model.load(str(path))
    dtype = input_dtype or tf.int32
    spec = {k: tf.TensorSpec([None, None], dtype, name=k) for k in INPUTS}
    root = tf.train.Checkpoint()
    root.inner = inner
    root.variables = list(inner.variables)
    root.trainable_variables = list(inner.trainable_variables)
    root.regularization_losses = []
    fault = call or (lambda model, inputs, training: model(inputs, training=training))

    def forward(inputs, training):
        return fault(inner, inputs, training)

    def cast(inputs):
        return {k: tf.cast(v, tf.int32) for k, v in inputs.items()}

    if training_argument:

        @tf.function
        def fn(inputs, training=False):
            return forward(cast(inputs), training)

        for training in (False, True):
            fn.get_concrete_function(spec, training=training)
    else:

        @tf.function
        def fn(inputs):
            return forward(cast(inputs), False)

        fn.get_concrete_function(spec)

    @tf.function(input_signature=[spec[k] for k in INPUTS])
    def serving(input_word_ids, input_mask, input_type_ids):
        out = forward(
            cast({"input_word_ids": input_word_ids, "input_mask": input_mask, "input_type_ids": input_type_ids}), False
        )
        flat = {k: out[k] for k in ("sequence_output", "pooled_output", "default") if k in out}
        return {(rename or {}).get(k, k): v for k, v in flat.items()}

    root.__call__ = fn
    _resave(root, path, {"serving_default": serving.get_concrete_function()})


def renamed_output_key(build: BuildLayout) -> None:
    _encoder_wrapper(build.saved_model("encoder"), rename={"pooled_output": "pooled"})


def int64_inputs(build: BuildLayout) -> None:
    import tensorflow as tf

    _encoder_wrapper(build.saved_model("encoder"), input_dtype=tf.int64)


def missing_vocab_asset(build: BuildLayout) -> None:
    (build.saved_model("preprocess") / "assets" / "vocab.txt").unlink()


def nan_weight(build: BuildLayout) -> None:
    import numpy as np
    import tensorflow as tf

    path = build.saved_model("encoder")
    model = tf.saved_model.load(str(path))
    gamma = next(v for v in model.variables if "gamma" in v.name)
    gamma.assign(np.full(gamma.shape, np.nan, dtype=np.float32))
    _resave(model, path, model.signatures)


def dropout_at_inference(build: BuildLayout) -> None:
    _encoder_wrapper(build.saved_model("encoder"), call=lambda model, inputs, training: model(inputs, training=True))


def no_training_argument(build: BuildLayout) -> None:
    _encoder_wrapper(build.saved_model("encoder"), training_argument=False)


def missing_default(build: BuildLayout) -> None:
    def without_default(model, inputs, training):
        out = dict(model(inputs, training=training))
        del out["default"]
        return out

    _encoder_wrapper(build.saved_model("encoder"), call=without_default)


def preprocessor_vocab_larger(build: BuildLayout, minilm_dir: Path) -> None:
    from tfhub_kit.tokenizers import tokenizer_spec_from_hf
    from tfhub_kit.tokenizers.build import build_preprocessor

    folder = build.root / "bigger-vocab"
    folder.mkdir()
    shutil.copy(minilm_dir / "tokenizer_config.json", folder)
    vocab = (minilm_dir / "vocab.txt").read_text().splitlines() + [f"extra{i}" for i in range(50)]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    pre = build_preprocessor(tokenizer_spec_from_hf(folder, "bert"), build.read_manifest().seq_length)
    _resave(pre, build.saved_model("preprocess"), {"serving_default": pre.serving_default})


def tokenize_returns_floats(build: BuildLayout) -> None:
    import tensorflow as tf

    path = build.saved_model("preprocess")
    inner = tf.saved_model.load(str(path))
    strings = tf.TensorSpec([None], tf.string)
    tokenize = tf.Module()
    tokenize.__call__ = tf.function(lambda s: tf.cast(inner.tokenize(s), tf.float32), input_signature=[strings])
    tokenize.get_special_tokens_dict = tf.function(lambda: inner.tokenize.get_special_tokens_dict(), input_signature=[])
    root = tf.Module()
    root.inner = inner
    root.tokenize = tokenize
    root.bert_pack_inputs = inner.bert_pack_inputs
    root.__call__ = tf.function(lambda s: inner(s), input_signature=[strings])
    _resave(root, path, {"serving_default": root.__call__.get_concrete_function()})


VARIANTS = [
    # (mutation, SavedModels in the broken build, the SavedModel and check that must catch it)
    (renamed_output_key, ("encoder",), ("encoder", "signature")),
    (int64_inputs, ("encoder",), ("encoder", "signature")),
    (missing_vocab_asset, ("preprocess",), ("preprocess", "assets")),
    (nan_weight, ("encoder",), ("encoder", "finite")),
    (dropout_at_inference, ("encoder",), ("encoder", "deterministic")),
    (no_training_argument, ("encoder",), ("encoder", "reusable_api")),
    (preprocessor_vocab_larger, ("encoder", "preprocess"), ("preprocess", "vocab_range")),
    (missing_default, ("encoder",), ("encoder", "call")),
    (tokenize_returns_floats, ("preprocess",), ("preprocess", "tokenize")),
]


def test_tiny_build_is_valid(tiny_build, tmp_path):
    report = validate_build(copy_build(tiny_build, tmp_path).root, consumers=False)
    assert report.ok, [(r.saved_model, r.check, r.found) for r in report.failures]


@pytest.mark.parametrize(("mutate", "kinds", "caught_by"), VARIANTS, ids=[v[0].__name__ for v in VARIANTS])
def test_broken_export_is_caught(mutate, kinds, caught_by, tiny_build, minilm_dir, tmp_path):
    build = _copy(tiny_build, tmp_path / "build", kinds)
    if mutate is preprocessor_vocab_larger:
        mutate(build, minilm_dir)
    else:
        mutate(build)
    report = validate_build(build.root, consumers=False)
    failed = {(r.saved_model, r.check): r for r in report.failures}
    assert not report.ok
    assert caught_by in failed, f"not caught by {caught_by}; failures: {sorted(failed)}"
    result = failed[caught_by]
    assert result.expected and result.found and result.found != "ok"
    assert "not loaded" not in result.found  # caught by the check itself, not as a knock-on
    saved = json.loads((build.root / "validation.json").read_text())
    assert saved["ok"] is False
    recorded = next(r for r in saved["results"] if (r["saved_model"], r["check"]) == caught_by)
    assert recorded["passed"] is False and recorded["found"] == result.found
    if caught_by[1] == "finite":  # non-finite weights are named first, not the checks they break next
        first = report.failures[0]
        assert (first.saved_model, first.check) == caught_by
