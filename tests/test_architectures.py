"""Every supported model_type converts exactly: tiny random checkpoints vs PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from helpers import tiny_hf_checkpoint

SENTENCES = ["hello world", "a longer sentence, with punctuation!", "", "Café 東京"]


@pytest.mark.parametrize("kind", ["distilbert", "bert"])
def test_tiny_checkpoint_matches_pytorch(kind, tmp_path, minilm_dir):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401
    import torch
    from tokenizers import Tokenizer

    from tfhub_kit.export import export_recipe

    extra = {"hidden_act": "gelu_new", "type_vocab_size": 3} if kind == "bert" else {}
    model = tiny_hf_checkpoint(kind, tmp_path / "hf", minilm_dir / "vocab.txt", **extra)
    recipe = {
        "model": {"publisher": "test", "name": f"tiny_{kind}", "version": 1, "description": "Tiny."},
        "source": {"hf_folder": "hf"},
        "export": {"seq_length": 16, "embedding": {"pooling": "mean", "normalize": "no"}},
    }
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    layout = export_recipe(tmp_path, out_dir=tmp_path / "build").layout

    hf = Tokenizer.from_file(str(minilm_dir / "tokenizer.json"))
    hf.enable_padding(length=16)
    hf.enable_truncation(16)
    enc = hf.encode_batch(SENTENCES)
    ids = torch.tensor([e.ids for e in enc])
    mask = torch.tensor([e.attention_mask for e in enc])
    with torch.no_grad():
        hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state.numpy()
    m = mask.numpy()[:, :, None]
    reference_mean = (hidden * m).sum(1) / m.sum(1)

    encoder = tf.saved_model.load(str(layout.saved_model("encoder")))
    preprocess = tf.saved_model.load(str(layout.saved_model("preprocess")))
    inputs = preprocess(tf.constant(SENTENCES))
    np.testing.assert_array_equal(inputs["input_word_ids"].numpy(), ids.numpy())
    out = encoder(inputs)
    assert len(out["encoder_outputs"]) == 2
    valid = m.astype(bool).repeat(32, axis=2)
    np.testing.assert_allclose(out["sequence_output"].numpy()[valid], hidden[valid], atol=1e-5)
    embedding = tf.saved_model.load(str(layout.saved_model("embedding")))
    np.testing.assert_allclose(embedding(tf.constant(SENTENCES)).numpy(), reference_mean, atol=1e-5)
    assert layout.read_manifest().saved_models["embedding"]["inference"]["padding_free"] is True
    if kind == "bert":  # the tanh pooler is ported too
        with torch.no_grad():
            pooled = model(input_ids=ids, attention_mask=mask).pooler_output.numpy()
        np.testing.assert_allclose(out["pooled_output"].numpy(), pooled, atol=1e-5)
