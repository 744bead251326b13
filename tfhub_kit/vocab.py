"""Learn a vocabulary from text: WordPiece with tensorflow-text's learner, or a SentencePiece
(Unigram) model with the `sentencepiece` library.

    vocab = learn_wordpiece_vocab(["a.txt", "b.txt"], vocab_size=8000)
    learn_sentencepiece(texts, vocab_size=8000, out_dir="tokenizer/")

WordPiece: text is normalised exactly as the kit's preprocessor will normalise it (lowercase
and accent stripping by default) before the learner splits it into words, so the vocabulary
fits the tokenizer that will use it. Special tokens come first.

SentencePiece: ALBERT's layout (`<pad>` 0, `<unk>` 1, `[CLS]` 2, `[SEP]` 3, `[MASK]` 4) and
NFKC normalisation; the folder gets the model (`spiece.model`) and the Hugging Face files
that describe it (`tokenizer.json`, `tokenizer_config.json`), which is what a `scratch`
source or any Hugging Face tool reads.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tfhub_kit.tokenizers import SpecialTokens, TokenizerSpec
from tfhub_kit.tokenizers.wordpiece import normalize

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
SENTENCEPIECE_SPECIALS = {"pad": "<pad>", "unk": "<unk>", "cls": "[CLS]", "sep": "[SEP]", "mask": "[MASK]"}
SENTENCEPIECE_FILES = ("spiece.model", "tokenizer.json", "tokenizer_config.json")


def learn_wordpiece_vocab(
    files: Sequence[str | Path], *, vocab_size: int, lower_case: bool = True, strip_accents: bool | None = None
) -> list[str]:
    import tensorflow as tf
    from tensorflow_text.tools.wordpiece_vocab.bert_vocab_from_dataset import bert_vocab_from_dataset

    spec = TokenizerSpec(
        vocab_file=Path("unused"),
        lower_case=lower_case,
        strip_accents=lower_case if strip_accents is None else strip_accents,
        special=SpecialTokens(),
    )
    dataset = tf.data.TextLineDataset([str(f) for f in files]).batch(1024).map(lambda t: normalize(t, spec))
    return bert_vocab_from_dataset(
        dataset,
        vocab_size=vocab_size,
        reserved_tokens=list(SPECIAL_TOKENS),
        bert_tokenizer_params={"lower_case": False},
        learn_params={},
    )


def write_vocab(tokens: Sequence[str], path: str | Path) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
    tmp.replace(path)


def learn_sentencepiece(
    texts: Iterable[str],
    *,
    vocab_size: int,
    out_dir: str | Path,
    lower_case: bool = False,
    character_coverage: float = 0.9995,
    max_sentences: int = 2_000_000,
) -> Path:
    """Train a Unigram SentencePiece model on `texts` and write `out_dir` (see the module
    docstring); returns `out_dir`. Lowercasing, when asked, happens before training and is
    recorded in tokenizer.json's normaliser, as ALBERT does."""
    import io
    import shutil
    import tempfile

    import sentencepiece as spm

    out_dir = Path(out_dir)
    buf = io.BytesIO()
    sentences = (t.lower() if lower_case else t for t in texts)
    names = SENTENCEPIECE_SPECIALS
    spm.SentencePieceTrainer.train(
        sentence_iterator=sentences,
        model_writer=buf,
        model_type="unigram",
        vocab_size=vocab_size,
        pad_id=0,
        pad_piece=names["pad"],
        unk_id=1,
        unk_piece=names["unk"],
        bos_id=-1,
        eos_id=-1,
        control_symbols=[names["cls"], names["sep"], names["mask"]],
        character_coverage=character_coverage,
        input_sentence_size=max_sentences,
        shuffle_input_sentence=True,
        num_threads=1,  # the same input gives the same model
        minloglevel=2,
    )
    model = buf.getvalue()
    files: dict[str, bytes | str] = {
        "spiece.model": model,
        "tokenizer.json": json.dumps(sentencepiece_tokenizer_json(model, lower_case=lower_case), ensure_ascii=False),
        "tokenizer_config.json": json.dumps(
            {f"{k}_token": v for k, v in names.items()} | {"do_lower_case": lower_case, "keep_accents": True},
            indent=1,
        ),
    }
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    for name, data in files.items():
        (tmp / name).write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.replace(out_dir)
    return out_dir


def sentencepiece_tokenizer_json(model: bytes, *, lower_case: bool = False) -> dict[str, Any]:
    """The Hugging Face `tokenizer.json` of a SentencePiece Unigram model with ALBERT's
    special tokens: its pieces and scores, its NFKC charsmap, Metaspace pre-tokenization
    and `[CLS] a [SEP] b [SEP]` packing (what transformers' ALBERT converter writes, without
    ALBERT's quote rewriting, which the model was not trained with)."""
    import base64

    from sentencepiece import sentencepiece_model_pb2 as sp_pb2

    proto = sp_pb2.ModelProto()
    proto.ParseFromString(model)
    pieces = [[p.piece, p.score] for p in proto.pieces]
    ids = {p[0]: i for i, p in enumerate(pieces)}
    specials = list(SENTENCEPIECE_SPECIALS.values())
    normalizers: list[dict[str, Any]] = []
    if lower_case:
        normalizers.append({"type": "Lowercase"})
    charsmap = proto.normalizer_spec.precompiled_charsmap
    if charsmap:
        normalizers.append({"type": "Precompiled", "precompiled_charsmap": base64.b64encode(charsmap).decode()})
    normalizers.append({"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "})
    metaspace = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}
    cls, sep = SENTENCEPIECE_SPECIALS["cls"], SENTENCEPIECE_SPECIALS["sep"]

    def seq(name: str, type_id: int) -> dict[str, Any]:
        return {"Sequence": {"id": name, "type_id": type_id}}

    def special(name: str, type_id: int) -> dict[str, Any]:
        return {"SpecialToken": {"id": name, "type_id": type_id}}

    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {
                "id": ids[t],
                "content": t,
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": True,
            }
            for t in specials
        ],
        "normalizer": {"type": "Sequence", "normalizers": normalizers},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "WhitespaceSplit"}, metaspace]},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [special(cls, 0), seq("A", 0), special(sep, 0)],
            "pair": [special(cls, 0), seq("A", 0), special(sep, 0), seq("B", 1), special(sep, 1)],
            "special_tokens": {t: {"id": t, "ids": [ids[t]], "tokens": [t]} for t in (cls, sep)},
        },
        "decoder": metaspace,
        "model": {
            "type": "Unigram",
            "unk_id": ids[SENTENCEPIECE_SPECIALS["unk"]],
            "vocab": pieces,
            "byte_fallback": False,
        },
    }
