"""The SentencePiece (Unigram) family: XLM-R, ALBERT, multilingual E5 and the like.

The checkpoint's `tokenizer.json` is the source of truth: its Unigram pieces and scores
(in the checkpoint's own id order, so fairseq's offset and `<mask>` at the end come for
free), its normaliser and its Metaspace pre-tokenizer are rewritten as a SentencePiece
model proto, which tensorflow-text's SentencePiece op runs. Normaliser steps other than a
Precompiled charsmap run as TF string ops before it (see `normalizers`).

Differences from HF that we know of: added tokens typed in the text (`<mask>`, user-defined
symbols) are segmented as plain text, not matched whole; a NUL character is read as U+E000
(the same unknown token unless the vocabulary holds either; a byte-fallback model gives that
character's three byte pieces where HF gives `<0x00>`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import tensorflow as tf
import tensorflow_text as tf_text

from tfhub_kit.errors import RecipeError
from tfhub_kit.tokenizers.normalizers import WHITESPACE, hf_normalizer
from tfhub_kit.tokenizers.preprocessor import STRINGS
from tfhub_kit.tokenizers.spec import TokenizerSpec

_BYTE_PIECE = re.compile(r"<0x[0-9A-F]{2}>")


class Tokenize(tf.Module):
    """`pre.tokenize(strings[b])` -> int32 RaggedTensor [b, (pieces)], the checkpoint's ids."""

    def __init__(self, spec: TokenizerSpec) -> None:
        super().__init__(name="tokenize")
        file, tok_json = spec.vocab_file, spec.tokenizer_json
        self._normalize, charsmap = hf_normalizer(tok_json, file)
        pre = metaspace_settings(tok_json, file)
        self._split_whitespace = pre["whitespace_split"]
        proto = unigram_proto(tok_json, file, charsmap=charsmap, add_dummy_prefix=pre["prefix"])
        self._sp = tf_text.SentencepieceTokenizer(proto, out_type=tf.int32)

    @tf.function(input_signature=[STRINGS])
    def __call__(self, sentences: tf.Tensor) -> tf.RaggedTensor:
        # SentencePiece (and TF's UTF-8 lowercasing) stop reading at a NUL character; HF
        # reads on (an unknown character).
        text = self._normalize(tf.strings.regex_replace(sentences, r"\x00", "\ue000"))
        if self._split_whitespace:  # HF's WhitespaceSplit: Unicode white space, not just " "
            text = tf.strings.regex_replace(text, f"[{WHITESPACE}]+", " ")
        return self._sp.tokenize(text)


def metaspace_settings(tok_json: dict[str, Any], file: Path) -> dict[str, bool]:
    """{"prefix": add "▁" before the text, "whitespace_split": WhitespaceSplit first}."""
    pre = tok_json.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers", []) if pre.get("type") == "Sequence" else [pre]
    kinds = [s.get("type") for s in steps]
    meta = [s for s in steps if s.get("type") == "Metaspace"]
    if not meta or set(kinds) - {"Metaspace", "WhitespaceSplit"} or meta[0].get("replacement", "▁") != "▁":
        raise RecipeError(
            file,
            "pre_tokenizer",
            "this pre-tokenizer is not supported for a Unigram (SentencePiece) model",
            allowed="Metaspace with replacement '▁', optionally after WhitespaceSplit",
            value=kinds,
        )
    scheme = meta[0].get("prepend_scheme") or ("always" if meta[0].get("add_prefix_space", True) else "never")
    return {"prefix": scheme != "never", "whitespace_split": "WhitespaceSplit" in kinds}


def unigram_proto(tok_json: dict[str, Any], file: Path, *, charsmap: bytes | None, add_dummy_prefix: bool) -> bytes:
    """A serialized SentencePiece ModelProto with the pieces and scores of `tok_json`."""
    from sentencepiece import sentencepiece_model_pb2 as sp_pb2

    model = tok_json.get("model") or {}
    if model.get("type") != "Unigram":
        raise RecipeError(file, "model.type", "not a Unigram model", allowed="Unigram", value=model.get("type"))
    proto = sp_pb2.ModelProto()
    piece_type = sp_pb2.ModelProto.SentencePiece
    trainer = proto.trainer_spec
    trainer.model_type = sp_pb2.TrainerSpec.UNIGRAM
    trainer.vocab_size = len(model["vocab"])
    trainer.unk_id = int(model.get("unk_id") or 0)
    trainer.bos_id = trainer.eos_id = trainer.pad_id = -1
    trainer.byte_fallback = bool(model.get("byte_fallback", False))
    normalizer = proto.normalizer_spec
    normalizer.name = "hf_precompiled" if charsmap else "identity"
    if charsmap:
        normalizer.precompiled_charsmap = charsmap
    normalizer.add_dummy_prefix = add_dummy_prefix
    normalizer.remove_extra_whitespaces = True
    normalizer.escape_whitespaces = True
    special = {t["content"] for t in tok_json.get("added_tokens") or [] if t.get("special")}
    seen: set[str] = set()
    for i, (text, score) in enumerate(model["vocab"]):
        piece = proto.pieces.add()
        piece.piece, piece.score = text, float(score)
        if text in seen:  # fairseq's specials may repeat the model's own (HF keeps both)
            piece.piece, piece.type = f"<duplicate {i}: {text}>", piece_type.CONTROL
            continue
        seen.add(text)
        if i == trainer.unk_id:
            piece.type = piece_type.UNKNOWN
        elif text in special:
            piece.type = piece_type.CONTROL
        elif trainer.byte_fallback and _BYTE_PIECE.fullmatch(text):
            piece.type = piece_type.BYTE
    return proto.SerializeToString()


def required_pieces(tok_json: dict[str, Any]) -> list[str]:
    """Pieces a pruned vocabulary must keep: the byte pieces of a byte-fallback model
    (so any text stays encodable) and the unknown piece."""
    model = tok_json["model"]
    pieces = [row[0] for row in model["vocab"]]
    keep = [pieces[model["unk_id"]]] if model.get("unk_id") is not None else []
    if model.get("byte_fallback"):
        keep += [p for p in pieces if _BYTE_PIECE.fullmatch(p)]
    return keep
