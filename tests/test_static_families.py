"""Static distillation (model2vec's method) of the SentencePiece and byte-level BPE
families: the same tokens and rows as model2vec's own `distill_from_model` on the same tiny
RoBERTa and XLM-R teachers, and an exported static model that encodes as model2vec's does.
PyTorch's RoBERTa gives a token equal to the padding id the padding position's embedding
(keras-hub's port has no such row), so the `<pad>` row differs (0.05) and, through PCA,
shifts the others of a small table: the 3k RoBERTa table drops `<pad>` on both sides, the
128k XLM-R one compares every other row. Tokenization never yields `<pad>`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Café crème brûlée à Paris, s'il vous plaît!",
    "한국어 문장 임베딩 모델을 공개합니다",
    "東京は日本の首都です。",
    "  many   spaces   between  ",
    "Emoji time 😀🎉",
    "",
]


@pytest.mark.parametrize("kind", ["roberta", "xlm-roberta"])
def test_static_rows_and_encodings_equal_model2vec(kind, families, tmp_path, monkeypatch):
    import tensorflow as tf

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from model2vec.distill import distill_from_model
    from transformers import AutoTokenizer

    from tfhub_kit.export import export_recipe
    from tfhub_kit.networks import inspect_hf_folder, load_network
    from tfhub_kit.recipe import StaticSection
    from tfhub_kit.transforms.static import distill_static

    root, model, _, _ = families[kind]
    remove = "<pad>" if kind == "roberta" else r"\[unused\d+\]"
    theirs = distill_from_model(
        model,
        AutoTokenizer.from_pretrained(root / "hf"),
        pca_dims=16,
        sif_coefficient=1e-4,
        quantize_to="float32",
        token_remove_pattern=remove,
    )
    source = inspect_hf_folder(root / "hf")
    settings = StaticSection(pca_dims=16, sif_coefficient=1e-4, remove_tokens=remove, precision="float32")
    ours = distill_static(load_network(source), source.tokenizer, settings, workdir=tmp_path / "work")
    vocab = theirs.tokenizer.get_vocab()
    assert list(ours.tokens) == sorted(vocab, key=vocab.get)
    rows = [i for i, token in enumerate(ours.tokens) if token != "<pad>"]
    np.testing.assert_allclose(ours.vectors[rows], theirs.embedding[rows], atol=2e-4)

    recipe = {
        "model": {"publisher": "test", "name": "static", "version": 1, "description": "Static."},
        "source": {"hf_folder": str(root / "hf")},
        "transforms": [
            {"static": {"pca_dims": 16, "sif_coefficient": 1e-4, "remove_tokens": remove, "precision": "float32"}}
        ],
        "export": {"saved_models": ["embedding"], "seq_length": 32, "embedding": {"pooling": "mean"}},
    }
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    layout = export_recipe(tmp_path, out_dir=tmp_path / "build").layout
    embedding = tf.saved_model.load(str(layout.saved_model("embedding")))
    np.testing.assert_allclose(embedding(tf.constant(SENTENCES)).numpy(), theirs.encode(SENTENCES), atol=1e-3)
    folder = layout.root / "model2vec"
    tokenizer = json.loads((folder / "tokenizer.json").read_text())
    assert tokenizer["post_processor"] is None
    assert [t["content"] for t in tokenizer["added_tokens"]] == (["<unk>"] if kind == "roberta" else ["<pad>", "<unk>"])
