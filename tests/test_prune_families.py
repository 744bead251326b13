"""`prune_vocab` on the SentencePiece (XLM-R with USE's real 128k model) and byte-level BPE
(RoBERTa) families: pruned to five languages, identical outputs on their text, unknown
pieces (SentencePiece) or plain bytes (BPE) on others, the pruned tokenizer.json loads in HF
and agrees with the kit's preprocessor, and the build validates."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from conftest import ROOT

LANGS = {"en": "deu-eng.eng", "de": "deu-eng.deu", "fr": "fra-eng.fra", "ko": "kor-eng.kor", "ja": "jpn-eng.jpn"}
OTHERS = {"th": "tha-eng.tha", "ar": "ara-eng.ara"}
CORPUS_LINES = 800


def _lines(name: str) -> list[str]:
    return (ROOT / "data" / "tatoeba" / f"tatoeba.{name}").read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize("kind", ["xlm-roberta", "roberta"])
def test_pruned_family_is_exact_on_kept_languages(kind, families, tmp_path):
    import tensorflow as tf
    from tokenizers import Tokenizer

    from tfhub_kit.build import build_model
    from tfhub_kit.export import export_recipe
    from tfhub_kit.recipe import load_recipe
    from tfhub_kit.validate import validate_build

    source_root, _, _, full = families[kind]
    corpora = {}
    for lang, name in LANGS.items():
        path = tmp_path / f"{lang}.txt"
        path.write_text("\n".join(_lines(name)[:CORPUS_LINES]) + "\n", encoding="utf-8")
        corpora[lang] = [path.name]
    recipe = {
        "model": {"publisher": "test", "name": "pruned", "version": 1, "description": "Pruned."},
        "source": {"hf_folder": str(source_root / "hf")},
        "transforms": [{"prune_vocab": {"corpora": corpora, "min_line_fraction": 1e-9}}],
        "export": {"seq_length": 32, "embedding": {"pooling": "mean", "normalize": "no"}},
    }
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    layout = export_recipe(tmp_path, out_dir=tmp_path / "build").layout
    (step,) = layout.read_manifest().transforms["steps"]
    assert step["vocab_size_after"] < step["vocab_size_before"] / (8 if kind == "xlm-roberta" else 1.1)
    assert validate_build(layout.root, consumers=False).ok

    def load(build, what):
        return tf.saved_model.load(str(build.saved_model(what)))

    before, after = load(full, "embedding"), load(layout, "embedding")
    pre = load(layout, "preprocess")
    seen = [line for name in LANGS.values() for line in _lines(name)[:CORPUS_LINES:40]]
    held_out = [line for name in LANGS.values() for line in _lines(name)[CORPUS_LINES:]]
    others = [line for name in OTHERS.values() for line in _lines(name)[:20]]
    # Text of the kept languages the vocabulary came from: the same outputs.
    np.testing.assert_allclose(after(tf.constant(seen)).numpy(), before(tf.constant(seen)).numpy(), atol=1e-6)
    # Held-out text of those languages: the same wherever its pieces were kept (800 corpus
    # lines per language keep few of 128k pieces: about a third of held-out lines).
    full_pre = load(full, "preprocess")
    kept_pieces = {int(i) for i in np.unique(full_pre.tokenize(tf.constant(seen + _all(LANGS))).flat_values)}
    old_ids = _flat(full_pre.tokenize(tf.constant(held_out)))
    covered = [s for s, ids in zip(held_out, old_ids, strict=False) if set(ids) <= kept_pieces]
    assert len(covered) > 0.2 * len(held_out)
    np.testing.assert_allclose(after(tf.constant(covered)).numpy(), before(tf.constant(covered)).numpy(), atol=1e-6)

    # The pruned tokenizer.json is what HF loads, and HF agrees with the kit on every line.
    with build_model(load_recipe(tmp_path), out_dir=tmp_path / "build") as built:
        hf = Tokenizer.from_file(str(built.source.tokenizer.vocab_file))
        unk_id = built.source.tokenizer.special_ids()["unk_id"]
    texts = seen + held_out + others
    ours = _flat(pre.tokenize(tf.constant(texts)))
    assert ours == [e.ids for e in hf.encode_batch(texts, add_special_tokens=False)]
    other_ids = ours[len(seen) + len(held_out) :]
    if kind == "xlm-roberta":  # Thai and Arabic pieces are gone: unknown
        assert sum(unk_id in ids for ids in other_ids) >= 0.9 * len(others)
    else:  # byte-level BPE never needs an unknown token: the bytes remain
        assert not any(unk_id in ids for ids in other_ids)
        assert [hf.decode(ids) for ids in other_ids] == others


def _all(langs: dict[str, str]) -> list[str]:
    return [line for name in langs.values() for line in _lines(name)[:CORPUS_LINES]]


def _flat(tokens) -> list[list[int]]:
    from tfhub_kit.tokenizers import flat_ids

    return flat_ids(tokens).to_list()
