"""extend_vocab: pieces for a new language appended, old ids and outputs unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import tiny_hf_checkpoint

from tfhub_kit.errors import RecipeError

ROOT = Path(__file__).resolve().parents[1]
KOREAN = ["한 남자가 큰 플루트를 연주하고 있다.", "비행기가 이륙하고 있다.", "영화가 정말 재미있었다"]
ENGLISH = ["A man is playing a flute.", "The plane is taking off."]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, minilm_dir):
    from tfhub_kit.networks import inspect_hf_folder, load_network

    folder = tmp_path_factory.mktemp("extend") / "hf"
    tiny_hf_checkpoint("bert", folder, minilm_dir / "vocab.txt")
    source = inspect_hf_folder(folder)
    return source, load_network(source)


def _tokens(spec, texts):
    import tensorflow as tf

    from tfhub_kit.tokenizers.wordpiece import Tokenize

    return Tokenize(spec)(tf.constant(texts)).merge_dims(1, 2)


def test_new_pieces_are_appended_and_old_outputs_stay(tiny, tmp_path):
    import tensorflow as tf

    from tfhub_kit.tokenizers.build import build_preprocessor
    from tfhub_kit.transforms.extend_vocab import extend_vocab

    source, network = tiny
    learned = ["[PAD]", "[UNK]", "ᄒ", "##ᅡᆫ", "ᄂ", "##ᅡᆷ자가", "##ᆻ", "##다", "the", "##ᅡ"]
    result = extend_vocab(network, source.tokenizer, learned, workdir=tmp_path)
    old_vocab, new_vocab = source.tokenizer.vocab(), result.tokenizer.vocab()
    added = ["##ᅡᆫ", "##ᅡᆷ자가", "##ᆻ", "##다"]  # the, ᄒ, ᄂ, ##ᅡ and specials exist already
    assert new_vocab == old_vocab + added
    assert result.report["added_tokens"] == 4 and result.network.vocab_size == len(old_vocab) + 4

    table = network.word_embeddings.numpy()
    new_table = result.network.word_embeddings.numpy()
    np.testing.assert_array_equal(new_table[: len(old_vocab)], table)
    index = {t: i for i, t in enumerate(old_vocab)}
    want = table[[index["##ᅡ"], index["##ᆫ"]]].mean(axis=0)  # the mean of its characters' rows
    np.testing.assert_allclose(new_table[len(old_vocab)], want, rtol=1e-6)

    before = build_preprocessor(source.tokenizer, 32)(tf.constant(ENGLISH))
    after = build_preprocessor(result.tokenizer, 32)(tf.constant(ENGLISH))
    np.testing.assert_array_equal(before["input_word_ids"], after["input_word_ids"])
    np.testing.assert_allclose(network(before)["sequence_output"], result.network(after)["sequence_output"], atol=1e-6)

    old_ids, new_ids = _tokens(source.tokenizer, KOREAN[:1]), _tokens(result.tokenizer, KOREAN[:1])
    assert new_ids.row_lengths()[0] < old_ids.row_lengths()[0]
    assert max(new_ids.flat_values.numpy()) >= len(old_vocab)


def test_a_recipe_learns_pieces_from_its_corpora_and_caches_them(tiny, tmp_path):
    from tfhub_kit.recipe import ExtendVocabSection, TextFile, load_recipe
    from tfhub_kit.transforms.extend_vocab import extend_vocab_from_recipe

    source, network = tiny
    corpus = tmp_path / "ko.txt"
    lines = (ROOT / "data/korsts/sts-dev.tsv").read_text(encoding="utf-8").splitlines()[1:201]
    corpus.write_text("".join(line.split("\t")[5] + "\n" for line in lines), encoding="utf-8")
    (tmp_path / "recipe.yaml").write_text(
        yaml.safe_dump(
            {
                "model": {"publisher": "test", "name": "ext", "version": 1, "description": "Tiny."},
                "source": {"hf_folder": str(source.folder)},
                "transforms": [{"extend_vocab": {"corpora": [{"path": "ko.txt"}], "size": 300}}],
            }
        )
    )
    recipe = load_recipe(tmp_path)
    settings = recipe.transforms[0].extend_vocab
    assert settings == ExtendVocabSection(corpora=(TextFile(path="ko.txt"),), size=300)
    said: list[str] = []
    first = extend_vocab_from_recipe(
        network,
        source.tokenizer,
        settings,
        recipe,
        workdir=tmp_path / "w1",
        cache_dir=tmp_path / "cache",
        progress=said.append,
    )
    again = extend_vocab_from_recipe(
        network,
        source.tokenizer,
        settings,
        recipe,
        workdir=tmp_path / "w2",
        cache_dir=tmp_path / "cache",
        progress=said.append,
    )
    assert any("learning a 300-token vocabulary from 200 lines" in s for s in said)
    assert any("learned vocabulary from cache" in s for s in said)
    assert first.tokenizer.vocab() == again.tokenizer.vocab()
    assert first.report["added_tokens"] > 20
    unk = source.tokenizer.unk_id()
    old = _tokens(source.tokenizer, KOREAN)
    new = _tokens(first.tokenizer, KOREAN)
    # Shorter where the old pieces were single jamo; no [UNK] where a jamo had no piece
    # (the old tokenizer turned the whole word 재미있었다 into one [UNK]).
    assert new.row_lengths().numpy()[0] < 0.6 * old.row_lengths().numpy()[0]
    assert (old.flat_values.numpy() == unk).sum() >= 1 and (new.flat_values.numpy() == unk).sum() == 0


def test_extend_vocab_needs_exactly_one_of_corpora_and_vocab(tmp_path, minilm_dir):
    from tfhub_kit.recipe import load_recipe

    (tmp_path / "recipe.yaml").write_text(
        yaml.safe_dump(
            {
                "model": {"publisher": "test", "name": "ext", "version": 1, "description": "Tiny."},
                "source": {"hf_folder": str(minilm_dir)},
                "transforms": [{"extend_vocab": {"size": 300}}],
            }
        )
    )
    with pytest.raises(RecipeError) as err:
        load_recipe(tmp_path)
    assert "field 'transforms[0].extend_vocab': give exactly one of corpora and vocab" in str(err.value)


def test_masked_lm_after_extend_vocab_cuts_its_corpus_with_the_new_pieces(tiny, tmp_path):
    """A recipe that extends the vocabulary, then pretrains on text of the new language:
    `data prepare` and `train` cut the corpus with the built vocabulary, so the rows hold the
    new pieces' ids (the source's vocabulary has none of them) and the network trains on them."""
    import json

    from click.testing import CliRunner

    from tfhub_kit.cli import main
    from tfhub_kit.files import sha256_file
    from tfhub_kit.pretrain.corpus import corpus_dataset
    from tfhub_kit.train import train_recipe

    source, _ = tiny
    lines = (ROOT / "data/korsts/sts-dev.tsv").read_text(encoding="utf-8").splitlines()[1:201]
    (tmp_path / "ko.txt").write_text("".join(line.split("\t")[5] + "\n" for line in lines), encoding="utf-8")
    recipe = {
        "model": {"publisher": "test", "name": "ext_mlm", "version": 1, "description": "Tiny."},
        "source": {"hf_folder": str(source.folder)},
        "transforms": [{"extend_vocab": {"corpora": [{"path": "ko.txt"}], "size": 300}}],
        "pretrain": {"seq_length": 32, "corpus": {"files": [{"path": "ko.txt"}], "shards": 1, "held_out": 0.05}},
        "train": {
            "strategy": "cpu",
            "seq_length": 32,
            "global_batch_size": 8,
            "steps": 4,
            "checkpoint_every": 4,
            "select": "last",
            "objectives": [{"mlm": {"whole_word": True, "max_predictions": 4}}],
        },
        "export": {"saved_models": ["encoder"], "seq_length": 32},
    }
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    out = tmp_path / "build"

    prepared = CliRunner().invoke(main, ["data", "prepare", str(tmp_path), "--out", str(out)])
    assert prepared.exit_code == 0, prepared.output
    folder = out / "test" / "ext_mlm" / "corpus"
    ids = np.concatenate([row["input_word_ids"].numpy() for row in corpus_dataset(folder)])
    old_size = len(source.tokenizer.vocab())
    assert ids.max() >= old_size  # new Hangul pieces: cut with the built vocabulary
    manifest = json.loads((folder / "corpus.json").read_text())
    assert manifest["tokenizer"]["vocab_sha256"] != sha256_file(source.tokenizer.vocab_file)

    result = train_recipe(tmp_path, out_dir=out)  # an id beyond the network's rows would fail the lookup
    report = json.loads((result.run_dir / "train.json").read_text())
    assert report["finished"] and np.isfinite(report["final_losses"]["mlm"])
    assert json.loads((folder / "corpus.json").read_text()) == manifest  # train cut it alike: shards reused
