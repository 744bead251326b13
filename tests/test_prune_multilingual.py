"""The multilingual demonstration: a learned 15-language vocabulary pruned to 5 languages."""

from __future__ import annotations

import numpy as np
from conftest import ROOT

RECIPE = ROOT / "models" / "tfhub-kit" / "tiny_multilingual_bert"
KEPT = {  # first lines of the pruning corpora: every token is kept
    "de": (ROOT / "data/tatoeba/tatoeba.deu-eng.deu").read_text().splitlines()[0],
    "ko": (ROOT / "data/tatoeba/tatoeba.kor-eng.kor").read_text().splitlines()[0],
    "ru": (ROOT / "data/tatoeba/tatoeba.rus-eng.rus").read_text().splitlines()[0],
}


def test_vocab_learner_covers_each_language(tmp_path):
    from tfhub_kit.vocab import SPECIAL_TOKENS, learn_wordpiece_vocab

    files = [ROOT / "data/tatoeba/tatoeba.rus-eng.rus", ROOT / "data/tatoeba/tatoeba.tha-eng.tha"]
    vocab = learn_wordpiece_vocab(files, vocab_size=600)
    assert vocab[:5] == list(SPECIAL_TOKENS)
    assert any("\u0430" <= t[-1] <= "\u044f" for t in vocab)  # Cyrillic
    assert any("\u0e00" <= t[-1] <= "\u0e7f" for t in vocab)  # Thai
    assert len(vocab) == len(set(vocab))


def test_multilingual_pruning_is_exact_for_kept_languages(tmp_path):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    from tfhub_kit.export import export_recipe
    from tfhub_kit.hubmodels import embedding_module
    from tfhub_kit.networks import inspect_source, load_network
    from tfhub_kit.recipe import load_recipe
    from tfhub_kit.tokenizers.build import build_preprocessor
    from tfhub_kit.validate import validate_build

    layout = export_recipe(RECIPE, out_dir=tmp_path / "build").layout
    manifest = layout.read_manifest()
    (step,) = manifest.transforms["steps"]
    assert step["vocab_size_before"] == 5004 and step["vocab_size_after"] < 5004
    assert set(step["languages"]) == {"de", "fr", "es", "ru", "ko"}
    for lang, figures in step["languages"].items():
        assert figures["lines"] == 1000 and figures["kept_tokens"] > 100, lang
    assert step["parameters_before"]["word_embeddings"] == 5004 * 64

    # the same random network, unpruned, built in memory from the same seed
    recipe = load_recipe(RECIPE)
    source = inspect_source(recipe)
    original = embedding_module(
        load_network(source), build_preprocessor(source.tokenizer, 64), pooling="mean", normalize=True
    )
    pruned = tf.saved_model.load(str(layout.saved_model("embedding")))
    text = tf.constant(list(KEPT.values()))
    diff = np.abs(original.__call__(text, training=False).numpy() - pruned(text).numpy()).max()
    assert diff <= 1e-6

    # Korean text the vocabulary did not come from (KorSTS dev): most pieces kept, not all.
    from tfhub_kit.datasets import read_sts

    korean = read_sts(ROOT / "data" / "korsts" / "sts-dev.tsv", "korsts_tsv")[0]
    pre = tf.saved_model.load(str(layout.saved_model("preprocess")))
    ids = pre.tokenize(tf.constant(korean)).flat_values.numpy()
    kept_share = float((ids != manifest.special_tokens["unk_id"]).mean())
    assert 0.8 < kept_share < 1.0, kept_share

    # a pruned language: Thai falls back to [UNK]
    thai = (ROOT / "data/tatoeba/tatoeba.tha-eng.tha").read_text().splitlines()[0]
    ids = pre.tokenize(tf.constant([thai])).flat_values.numpy().tolist()
    unk = manifest.special_tokens["unk_id"]
    assert ids and ids.count(unk) >= len(ids) // 2

    report = validate_build(layout.root, consumers=False)  # consumer loads: test_consumers.py
    assert report.ok, [(r.saved_model, r.check, r.found) for r in report.failures]
