"""The exported MiniLM reproduces the PyTorch reference: ids and embeddings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

SENTENCES = json.loads((Path(__file__).parent / "data" / "parity_sentences.json").read_text())


def _load(path: Path):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the ops the preprocessor uses)

    return tf.saved_model.load(str(path))


def test_preprocessor_ids_equal_hf_tokenizers(minilm_build, minilm_dir):
    import tensorflow as tf
    from tokenizers import Tokenizer

    hf = Tokenizer.from_file(str(minilm_dir / "tokenizer.json"))
    hf.no_padding()
    hf.enable_truncation(max_length=256)
    pre = _load(minilm_build.saved_model("preprocess"))
    out = pre(tf.constant(SENTENCES))
    lengths = out["input_mask"].numpy().sum(axis=1)
    ids = out["input_word_ids"].numpy()
    mismatches = [
        (s[:40], row[:n].tolist()[:20], hf.encode(s).ids[:20])
        for s, row, n in zip(SENTENCES, ids, lengths, strict=False)
        if row[:n].tolist() != hf.encode(s).ids
    ]
    assert not mismatches
    assert out["input_word_ids"].shape == (len(SENTENCES), 256)


def test_tokenize_pieces_equal_hf_without_truncation(minilm_build, minilm_dir):
    import tensorflow as tf
    from tokenizers import Tokenizer

    hf = Tokenizer.from_file(str(minilm_dir / "tokenizer.json"))
    hf.no_padding()
    hf.no_truncation()
    pre = _load(minilm_build.saved_model("preprocess"))
    tokens = pre.tokenize(tf.constant(SENTENCES))
    for sentence, words in zip(SENTENCES, tokens.to_list(), strict=False):
        assert [p for w in words for p in w] == hf.encode(sentence).ids[1:-1], sentence[:40]


def test_embedding_matches_sentence_transformers(minilm_build, minilm_dir, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # a local folder: never ask the Hub
    import tensorflow as tf
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(minilm_dir), device="cpu")
    assert st.max_seq_length == 256
    reference = st.encode(SENTENCES, batch_size=32, convert_to_numpy=True)
    ours = _load(minilm_build.saved_model("embedding"))(tf.constant(SENTENCES)).numpy()
    assert ours.shape == reference.shape == (len(SENTENCES), 384)
    assert np.abs(ours - reference).max() <= 1e-4
