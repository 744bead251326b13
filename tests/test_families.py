"""Tokenizer families beyond WordPiece, checked against the real thing: tiny random
checkpoints made with transformers, with real tokenizers (USE's 128k SentencePiece model as
XLM-R's, a SentencePiece model trained here as ALBERT's, a byte-level BPE trained here with
HF tokenizers as RoBERTa's), exported by the kit and compared with HF's ids and PyTorch's
outputs on 100+ varied sentences."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import FAMILY_KINDS as KINDS
from conftest import FAMILY_SEQ_LENGTH as SEQ_LENGTH
from helpers import copy_build

ROOT = Path(__file__).resolve().parents[1]


def family_sentences() -> list[str]:
    """Parity sentences plus held-out Korean, CJK, Thai, Cyrillic, Arabic lines and edge cases."""
    sentences = json.loads((ROOT / "tests" / "data" / "parity_sentences.json").read_text(encoding="utf-8"))
    sentences += [
        "  many   spaces   between  ",
        "a\u3000b\u00a0c",
        "ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３",
        "①②③ ㈱ ㎏",
        "``quoted'' text",
        "Ǆ ǅ ǆ ﬁ ﬂ",
        "Ünïcödé ÀÉÎÕÜ ÿ ŷ ẑ ǘ Ḝ",
        "Ωmega ΣΊΣΥΦΟΣ",
        "I'm you'll we'd they've it's",
        "x  \n\n  y",
        "a  's",
        "end  ",
        "over-long " * 60,
    ]
    korsts = (ROOT / "data" / "korsts" / "sts-dev.tsv").read_text(encoding="utf-8").splitlines()[1:16]
    sentences += [line.split("\t")[5] for line in korsts]
    for lang in ("cmn", "jpn", "tha", "rus", "ara", "kor", "deu"):
        file = ROOT / "data" / "tatoeba" / f"tatoeba.{lang}-eng.{lang}"
        sentences += file.read_text(encoding="utf-8").splitlines()[400:405]
    return sentences


SENTENCES = family_sentences()


def _load(layout, kind):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    return tf.saved_model.load(str(layout.saved_model(kind)))


@pytest.mark.parametrize("kind", KINDS)
def test_preprocessor_ids_equal_hf(kind, families):
    import tensorflow as tf

    from tfhub_kit.tokenizers import flat_ids

    _, _, hf, layout = families[kind]
    pre = _load(layout, "preprocess")
    manifest = json.loads((layout.root / "manifest.json").read_text())
    assert manifest["tokenizer"] == {
        "family": "bytepair" if kind in ("roberta", "bart") else "sentencepiece",
        "packing": "bert" if kind == "albert" else "roberta",
    }
    assert len(SENTENCES) >= 100
    tokens = pre.tokenize(tf.constant(SENTENCES))
    ids = flat_ids(tokens).to_list()
    wrong = [(s, row, hf(s, add_special_tokens=False)["input_ids"]) for s, row in zip(SENTENCES, ids, strict=False)]
    wrong = [w for w in wrong if w[1] != w[2]]
    assert not wrong, wrong[:3]
    packed = pre(tf.constant(SENTENCES))
    for i, sentence in enumerate(SENTENCES):
        want = hf(sentence, truncation=True, max_length=SEQ_LENGTH)["input_ids"]
        n = int(packed["input_mask"][i].numpy().sum())
        assert packed["input_word_ids"][i, :n].numpy().tolist() == want, sentence


@pytest.mark.parametrize("kind", KINDS)
def test_pairs_follow_the_family_packing_rule(kind, families):
    import tensorflow as tf

    _, _, hf, layout = families[kind]
    pre = _load(layout, "preprocess")
    firsts, seconds = SENTENCES[:40], SENTENCES[40:80]
    out = pre.bert_pack_inputs(
        [pre.tokenize(tf.constant(firsts)), pre.tokenize(tf.constant(seconds))], seq_length=tf.constant(SEQ_LENGTH)
    )
    for i, (a, b) in enumerate(zip(firsts, seconds, strict=False)):
        want = hf(a, b, truncation="longest_first", max_length=SEQ_LENGTH, return_token_type_ids=True)
        n = int(out["input_mask"][i].numpy().sum())
        assert out["input_word_ids"][i, :n].numpy().tolist() == want["input_ids"], (a, b)
        assert out["input_type_ids"][i, :n].numpy().tolist() == want["token_type_ids"], (a, b)


@pytest.mark.parametrize("kind", KINDS)
def test_outputs_equal_pytorch(kind, families):
    import tensorflow as tf
    import torch

    _, model, hf, layout = families[kind]
    enc = hf(
        SENTENCES,
        truncation=True,
        max_length=SEQ_LENGTH,
        padding="max_length",
        return_tensors="pt",
        return_token_type_ids=True,
    )
    with torch.no_grad():
        kwargs = {"token_type_ids": enc["token_type_ids"]} if kind == "albert" else {}
        torch_model = model.get_encoder() if kind == "bart" else model  # BART: the encoder side
        ref = torch_model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], **kwargs)
    mask = enc["attention_mask"].numpy()[:, :, None].astype(bool)
    hidden = ref.last_hidden_state.numpy()

    inputs = _load(layout, "preprocess")(tf.constant(SENTENCES))
    np.testing.assert_array_equal(inputs["input_word_ids"].numpy(), enc["input_ids"].numpy())
    out = _load(layout, "encoder")(inputs)
    assert len(out["encoder_outputs"]) == 2
    valid = np.repeat(mask, hidden.shape[-1], axis=2)
    np.testing.assert_allclose(out["sequence_output"].numpy()[valid], hidden[valid], atol=1e-4)
    if kind == "albert":
        np.testing.assert_allclose(out["pooled_output"].numpy(), ref.pooler_output.numpy(), atol=1e-4)
    mean = (hidden * mask).sum(1) / mask.sum(1)
    embedding = _load(layout, "embedding")(tf.constant(SENTENCES)).numpy()
    np.testing.assert_allclose(embedding, mean, atol=1e-4)
    assert layout.read_manifest().saved_models["embedding"]["inference"]["padding_free"] is True


@pytest.mark.parametrize("kind", KINDS)
def test_validate_passes_and_catches_a_tampered_packing_rule(kind, families, tmp_path):
    import tensorflow as tf

    from tfhub_kit.networks import inspect_hf_folder
    from tfhub_kit.tokenizers.build import build_preprocessor
    from tfhub_kit.validate import validate_build

    root, _, _, shared = families[kind]
    layout = copy_build(shared, tmp_path / "copy")  # the family builds are shared by both test processes
    report = validate_build(layout.root, consumers=False)
    assert report.ok, [r for r in report.results if not r.passed]
    if kind not in ("xlm-roberta", "albert"):  # one tampering per packing rule is enough
        return

    tampered = tmp_path / "build"
    shutil.copytree(layout.root, tampered)
    spec = inspect_hf_folder(root / "hf").tokenizer
    other = {"bert": "roberta", "roberta": "bert"}[spec.packing]
    shutil.rmtree(tampered / "preprocess")
    pre = build_preprocessor(dataclasses.replace(spec, packing=other), SEQ_LENGTH)
    tf.saved_model.save(pre, str(tampered / "preprocess"), signatures={"serving_default": pre.serving_default})
    report = validate_build(tampered, consumers=False)
    failed = {(r.saved_model, r.check) for r in report.results if not r.passed}
    assert failed == {("preprocess", "bert_pack_inputs")}


def test_byte_fallback_and_its_pruning_match_hf(tmp_path):
    """A byte-fallback SentencePiece model (trained here without Thai): unknown characters
    become byte pieces, as HF's Unigram gives them, before and after pruning to English."""
    import tensorflow as tf
    from helpers import tokenizer_corpus, train_sentencepiece
    from tokenizers import Tokenizer
    from transformers import XLMRobertaTokenizer

    from tfhub_kit.tokenizers import tokenizer_spec_from_hf
    from tfhub_kit.tokenizers.build import build_tokenize
    from tfhub_kit.tokenizers.sentencepiece import required_pieces
    from tfhub_kit.transforms.tokenizer_json import prune_tokenizer_json

    corpus = [line for line in tokenizer_corpus() if not any("\u0e00" <= c <= "\u0e7f" for c in line)]
    model = train_sentencepiece(
        corpus, byte_fallback=True, pad_id=1, unk_id=3, bos_id=0, eos_id=2, control_symbols=[], vocab_size=4000
    )
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "sentencepiece.bpe.model").write_bytes(model)
    XLMRobertaTokenizer.from_pretrained(tmp_path / "src").save_pretrained(tmp_path / "hf")
    file = tmp_path / "hf" / "tokenizer.json"
    tok_json = json.loads(file.read_text())
    tok_json["model"]["byte_fallback"] = True  # HF's converter drops the flag; its Unigram honours it
    file.write_text(json.dumps(tok_json))

    texts = [s for s in SENTENCES if "\x00" not in s]  # NUL: see sentencepiece.py's docstring

    def both(path):
        ours = build_tokenize(tokenizer_spec_from_hf(path.parent, "xlm-roberta"))(tf.constant(texts)).to_list()
        theirs = [e.ids for e in Tokenizer.from_file(str(path)).encode_batch(texts, add_special_tokens=False)]
        return ours, theirs

    ours, theirs = both(file)
    assert ours == theirs
    vocab = [row[0] for row in tok_json["model"]["vocab"]]
    thai = texts.index(next(s for s in texts if "\u0e2a" in s))
    assert any(vocab[i].startswith("<0x") for i in ours[thai])

    english = corpus[:300]
    used = build_tokenize(tokenizer_spec_from_hf(tmp_path / "hf", "xlm-roberta"))(tf.constant(english))
    index = {tok: i for i, tok in enumerate(vocab)}
    keep = sorted(
        {0, 1, 2, 3, len(vocab) - 1}
        | {int(i) for i in used.flat_values}
        | {index[p] for p in required_pieces(tok_json)}
    )
    pruned = tmp_path / "pruned" / "tokenizer.json"
    pruned.parent.mkdir()
    for name in ("tokenizer_config.json",):
        (pruned.parent / name).write_text((tmp_path / "hf" / name).read_text())
    pruned.write_text(json.dumps(prune_tokenizer_json(tok_json, keep), ensure_ascii=False))
    ours, theirs = both(pruned)
    assert ours == theirs
    assert len(keep) < 0.6 * len(vocab)


@pytest.mark.parametrize(
    ("kind", "step", "field"),
    [
        ("albert", {"prune_layers": {"keep": [0]}}, "transforms[0].prune_layers"),
        ("xlm-roberta", {"extend_vocab": {"vocab": "pieces.txt"}}, "transforms[0].extend_vocab"),
    ],
)
def test_transforms_a_family_cannot_take_are_refused_by_name(kind, step, field, families, tmp_path):
    import yaml

    from tfhub_kit.errors import RecipeError
    from tfhub_kit.export import export_recipe

    root = families[kind][0]
    (tmp_path / "pieces.txt").write_text("한국\n")
    recipe = {
        "model": {"publisher": "test", "name": "refused", "version": 1, "description": "Refused."},
        "source": {"hf_folder": str(root / "hf")},
        "transforms": [step],
    }
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    with pytest.raises(RecipeError) as err:
        export_recipe(tmp_path, out_dir=tmp_path / "build")
    assert f"field '{field}'" in str(err.value) and "Allowed:" in str(err.value)
    assert not (tmp_path / "build" / "test" / "refused" / "1").exists()
