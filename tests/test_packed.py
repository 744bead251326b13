"""The padding-free fast path of the embedding model gives the ordinary path's vectors for
every family and pooling, follows the variables when they change (fine-tuning), and an
export falls back to padded batches, saying why, when it cannot match."""

from __future__ import annotations

import numpy as np
import pytest

SENTENCES = [
    "hello world",
    "",
    "a much longer sentence, with punctuation, numbers 12345 and Unicode: Café 東京 ßtraße",
    "x",
    "over-long " * 40,
    "two words",
]


@pytest.fixture(scope="module")
def tiny_bert(tiny_build):
    """The tiny BERT of the session build, loaded once: (network, source, preprocessor)."""
    from tfhub_kit.networks import inspect_hf_folder, load_network
    from tfhub_kit.tokenizers.build import build_preprocessor

    source = inspect_hf_folder(tiny_build.root.parents[3] / "hf")
    return load_network(source), source, build_preprocessor(source.tokenizer, 24)


@pytest.mark.parametrize("kind", ["bert", "albert", "bart", "xlm-roberta"])
def test_padding_free_vectors_equal_the_ordinary_ones(kind, tiny_bert, families):
    import tensorflow as tf

    from tfhub_kit.networks import inspect_hf_folder, load_network
    from tfhub_kit.packed import check_packed, packed_unsupported
    from tfhub_kit.tokenizers.build import build_preprocessor

    if kind == "bert":
        network, _, preprocessor = tiny_bert
    else:
        source = inspect_hf_folder(families[kind][0] / "hf")
        network, preprocessor = load_network(source), build_preprocessor(source.tokenizer, 24)
    inputs = preprocessor.pack_dynamic(tf.constant(SENTENCES))
    assert len(set(inputs["input_mask"].numpy().sum(1))) > 3  # really padded
    assert packed_unsupported(network) is None
    for pooling, normalize in (("mean", True), ("cls", False), ("pooler", False)):
        assert check_packed(network, inputs, pooling=pooling, normalize=normalize) < 1e-5, pooling


def test_an_export_falls_back_to_padded_batches_and_says_why(tiny_bert, monkeypatch):
    from tfhub_kit import hubmodels as export

    network, _, preprocessor = tiny_bert
    kept = export._padding_free(network, preprocessor, ("hello",), pooling="mean", normalize=True)
    assert kept["padding_free"] is True and kept["max_abs_diff"] < 1e-5
    monkeypatch.setattr(export, "PACKED_TOLERANCE", -1.0)  # nothing can match
    refused = export._padding_free(network, preprocessor, ("hello",), pooling="mean", normalize=True)
    assert refused["padding_free"] is False
    assert "differ from the ordinary ones" in refused["reason"]


def test_the_fast_path_reads_the_variables_at_call_time(tiny_bert):
    """What fine-tuning through hub.KerasLayer(trainable=True) relies on: change a weight and
    inference follows it."""
    import tensorflow as tf

    from tfhub_kit.hubmodels import embedding_module
    from tfhub_kit.networks import pool

    network, _, preprocessor = tiny_bert
    module = embedding_module(network, preprocessor, pooling="mean", normalize=True, padding_free=True)
    text = tf.constant(SENTENCES)
    before = module.__call__(text, training=False).numpy()
    kernel = network.layer_calls[0]._feedforward_intermediate_dense.kernel
    original = kernel.numpy()
    try:
        kernel.assign(original * 1.5)
        after = module.__call__(text, training=False).numpy()
        inputs = preprocessor.pack_dynamic(text)
        ordinary = pool(network(inputs), inputs["input_mask"], pooling="mean", normalize=True).numpy()
    finally:
        kernel.assign(original)
    assert np.abs(after - before).max() > 1e-3
    np.testing.assert_allclose(after, ordinary, atol=1e-5)


def test_the_sample_export_records_its_fast_path(minilm_build):
    inference = minilm_build.read_manifest().saved_models["embedding"]["inference"]
    assert inference["padding_free"] is True and inference["max_abs_diff"] < 1e-5
