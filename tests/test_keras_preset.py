"""keras-hub presets: what a Keras 3 user loads in a fresh process equals the TF Hub encoder."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from helpers import copy_build, run_python

from tfhub_kit.cli import main
from tfhub_kit.docs import render_docs
from tfhub_kit.errors import PublishError, RecipeError
from tfhub_kit.keraspreset import check_preset_support
from tfhub_kit.networks import inspect_source
from tfhub_kit.publish.kaggle import plan_kaggle
from tfhub_kit.recipe import load_recipe

SENTENCES = ["A man is playing a guitar.", "Zwei Hunde spielen im Schnee!", "naïve café, 東京 2024"]

# Run in a fresh process: the preset through keras-hub (Keras 3), the SavedModels through
# hub.load; prints the largest difference of the sequence outputs over real tokens.
COMPARE = """
import json
import keras, keras_hub, numpy as np, tensorflow as tf, tensorflow_hub as hub
build, sentences, segments = {args}
preprocess = hub.load(f"{build}/preprocess")
encoder = hub.load(f"{build}/encoder")
inputs = preprocess(tf.constant(sentences))
expected = encoder(inputs, training=False)["sequence_output"].numpy()
backbone = keras_hub.models.Backbone.from_preset(f"{build}/keras_preset")
tokenizer = keras_hub.models.Tokenizer.from_preset(f"{build}/keras_preset")
feed = {"token_ids": inputs["input_word_ids"], "padding_mask": inputs["input_mask"]}
if segments:
    feed["segment_ids"] = inputs["input_type_ids"]
mask = inputs["input_mask"].numpy().astype(bool)

def diff():
    out = backbone(feed, training=False)
    got = (out["sequence_output"] if isinstance(out, dict) else out).numpy()
    return float(np.abs(got - expected)[mask].max())

report = {"diff": diff(), "ids": [list(map(int, r)) for r in tokenizer(tf.constant(sentences))]}
{extra}
print(json.dumps(report))
"""

# Swap keras-hub's tanh GELU for exact GELU in the loaded preset: then it must equal the
# TF Hub encoder of an exact-GELU checkpoint (same weights, only the activation differs).
EXACT_GELU = """
for layer in backbone.transformer_layers:
    layer._feedforward_intermediate_dense.activation = keras.activations.gelu
report["diff_exact_gelu"] = diff()
"""

# A Keras 3 user's classifier on the preset: one training step must run and move the weights.
CLASSIFIER = """
classifier = keras_hub.models.TextClassifier.from_preset(f"{build}/keras_preset", num_classes=2)
classifier.compile(optimizer=keras.optimizers.Adam(1e-3),
                   loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
before = [w.numpy().copy() for w in classifier.trainable_weights]
history = classifier.fit(sentences[:2], np.array([0, 1]), batch_size=2, epochs=1, verbose=0)
report["classifier"] = type(classifier).__name__
report["loss"] = float(history.history["loss"][0])
report["moved"] = sum(not np.array_equal(a, w.numpy()) for a, w in zip(before, classifier.trainable_weights))
report["weights"] = len(before)
"""


def _compare(build, *, segments: bool, extra: str = "") -> dict:
    code = COMPARE.replace("{args}", repr((str(build.root), SENTENCES, segments))).replace("{extra}", extra)
    return json.loads(run_python(code).strip().splitlines()[-1])


def _preprocess_ids(build) -> list[list[int]]:
    import tensorflow as tf

    from tfhub_kit.tokenizers import flat_ids

    pre = tf.saved_model.load(str(build.saved_model("preprocess")))
    return flat_ids(pre.tokenize(tf.constant(SENTENCES))).to_list()


def test_bert_preset_equals_the_encoder_and_trains_a_classifier(tiny_build):
    manifest = json.loads(tiny_build.manifest_file.read_text())
    preset = manifest["keras_preset"]
    assert preset["backbone"] == "BertBackbone" and preset["tokenizer"] == "BertTokenizer"
    assert preset["parity"]["token_ids_equal"] and preset["parity"]["max_abs_diff"] <= 1e-5
    assert preset["note"] is None
    assert {"config.json", "model.weights.h5", "tokenizer.json", "assets/tokenizer/vocabulary.txt"} <= set(
        preset["files"]
    )
    report = _compare(tiny_build, segments=True, extra=CLASSIFIER)
    assert report["diff"] <= 1e-5
    assert report["ids"] == _preprocess_ids(tiny_build)
    assert report["classifier"] == "BertTextClassifier"
    assert report["loss"] == pytest.approx(report["loss"]) and 0 < report["loss"] < 10
    assert report["moved"] == report["weights"] > 0


def test_roberta_preset_equals_the_encoder(families):
    _root, _model, _tokenizer, layout = families["roberta"]
    preset = json.loads(layout.manifest_file.read_text())["keras_preset"]
    assert preset["backbone"] == "RobertaBackbone" and preset["parity"]["max_abs_diff"] <= 1e-5
    report = _compare(layout, segments=False)
    assert report["diff"] <= 1e-5
    assert report["ids"] == _preprocess_ids(layout)


def test_minilm_preset_has_the_same_weights_and_names_keras_hubs_gelu(minilm_build):
    """all-MiniLM-L6-v2 was trained with exact GELU; keras-hub's BertBackbone computes the
    tanh approximation. The manifest says so with the figure, and the preset with exact GELU
    put back equals the TF Hub encoder: the weights are the same."""
    preset = json.loads(minilm_build.manifest_file.read_text())["keras_preset"]
    assert "tanh-approximate GELU" in preset["note"] and "hidden_act: 'gelu'" in preset["note"]
    report = _compare(minilm_build, segments=True, extra=EXACT_GELU)
    assert report["diff_exact_gelu"] <= 1e-5
    assert 1e-5 < report["diff"] <= 2 * max(preset["parity"]["max_abs_diff"], 1e-3)
    assert report["ids"] == _preprocess_ids(minilm_build)


def test_checkpoints_keras_hub_cannot_tokenize_alike_are_refused(families):
    root, *_ = families["albert"]
    recipe = load_recipe(root)
    with pytest.raises(RecipeError, match=r"field 'export.saved_models'.*keras_preset is not available"):
        check_preset_support(inspect_source(recipe), recipe.file)


def test_kaggle_keras_plan_uploads_the_preset(minilm_build, families, tmp_path):
    minilm_build = copy_build(minilm_build, tmp_path)
    render_docs(minilm_build.root)
    target = "kaggle://tfhub-kit/all-minilm-l6-v2/keras/default"
    (upload,) = plan_kaggle(minilm_build.root, target).uploads
    assert upload.handle == "tfhub-kit/all-minilm-l6-v2/keras/default" and upload.framework == "keras"
    assert upload.directory == minilm_build.root / "keras_preset"
    assert {"config.json", "metadata.json", "model.weights.h5", "tokenizer.json"} <= set(upload.files)
    result = CliRunner().invoke(main, ["publish", str(minilm_build.root), "--to", target, "--dry-run", "--force"])
    assert result.exit_code == 0, result.output
    assert f"tfhub-kit/all-minilm-l6-v2/keras/default  <- {minilm_build.root / 'keras_preset'}" in result.output

    _root, _model, _tokenizer, xlmr = families["xlm-roberta"]
    render_docs(xlmr.root, asset_base="https://example.org/models")
    with pytest.raises(PublishError, match="has no keras_preset/ to publish"):
        plan_kaggle(xlmr.root, "kaggle://test/tiny-xlmr/keras/default")
