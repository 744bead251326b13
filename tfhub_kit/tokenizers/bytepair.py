"""The byte-level BPE family: RoBERTa, BART, GPT-2 style vocabularies.

HF's ByteLevel pre-tokenizer is rebuilt from TF string ops: GPT-2's split pattern (its
`\\s+(?!\\S)` lookahead, which RE2 lacks, becomes a word break inserted before the last
white space of a run), then every byte is mapped to GPT-2's printable alphabet. The BPE merges run
in tensorflow-text's SentencePiece op, as a BPE model whose pieces are the vocabulary and
whose scores rank each piece by the merge that makes it (earlier merge, higher score), which
is the order HF applies merges in.

Differences from HF that we know of: added tokens typed in the text (`<mask>`) are segmented
as plain text; a pair that HF's merge list lacks but whose concatenation is a piece made by
another merge would be merged here (none in 30,194 STS-B and Tatoeba lines checked against
HF on 2026-11-26).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tensorflow as tf
import tensorflow_text as tf_text

from tfhub_kit.errors import RecipeError
from tfhub_kit.tokenizers.normalizers import WHITESPACE, hf_normalizer
from tfhub_kit.tokenizers.preprocessor import STRINGS
from tfhub_kit.tokenizers.spec import TokenizerSpec, hf_vocab

_WORD = rf"'s|'t|'re|'ve|'m|'ll|'d| ?\p{{L}}+| ?\p{{N}}+| ?[^{WHITESPACE}\p{{L}}\p{{N}}\x00]+|[{WHITESPACE}]+"
"""GPT-2's pre-tokenizer pattern without its lookahead; NUL (the word separator) is never in a word."""


class Tokenize(tf.Module):
    """`pre.tokenize(strings[b])` -> int32 RaggedTensor [b, (words), (pieces)], HF's ids."""

    def __init__(self, spec: TokenizerSpec) -> None:
        super().__init__(name="tokenize")
        file, tok_json = spec.vocab_file, spec.tokenizer_json
        self._normalize, charsmap = hf_normalizer(tok_json, file)
        if charsmap:
            raise RecipeError(file, "normalizer", "a Precompiled charsmap needs a Unigram model", value="Precompiled")
        self._prefix_space = byte_level_settings(tok_json, file)
        unicode = bytes_to_unicode()
        self._bytes = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant([bytes([b]) for b in range(256)]), tf.constant([unicode[b] for b in range(256)])
            ),
            default_value="",
        )
        self._sp = tf_text.SentencepieceTokenizer(bpe_proto(tok_json, file), out_type=tf.int32)

    @tf.function(input_signature=[STRINGS])
    def __call__(self, sentences: tf.Tensor) -> tf.RaggedTensor:
        # NUL separates words below: carry the text's own NULs as a private-use character of
        # the same class (neither letter, number nor space) and turn them back after.
        text = self._normalize(tf.strings.regex_replace(sentences, r"\x00", "\ue001"))
        if self._prefix_space:
            text = tf.strings.regex_replace(text, f"^([^{WHITESPACE}])", " \\1")
        # `\s+(?!\S)`: a run of white space leaves its last character to the next word.
        text = tf.strings.regex_replace(text, f"([{WHITESPACE}])([{WHITESPACE}][^{WHITESPACE}])", "\\1\x00\\2")
        # regex_replace + split is ~5x faster than tensorflow-text's regex_split here.
        words = tf.strings.split(tf.strings.regex_replace(text, _WORD, "\\0\x00"), sep="\x00")
        words = tf.ragged.boolean_mask(words, words != "")  # [b, (words)]
        # Each distinct word of the batch is encoded once (HF keeps a word cache too).
        unique, index = tf.unique(words.flat_values)
        return words.with_flat_values(tf.gather(self._sp.tokenize(self._to_alphabet(unique)), index))

    def _to_alphabet(self, words: tf.Tensor) -> tf.Tensor:
        """Each byte of each word as GPT-2's printable character. Printable ASCII maps to
        itself and the space to "Ġ": most words take that short cut; the rest go byte by byte."""
        ascii_ = tf.strings.regex_full_match(words, "[!-~ ]*")
        plain = tf.cast(tf.where(ascii_)[:, 0], tf.int32)
        other = tf.cast(tf.where(~ascii_)[:, 0], tf.int32)
        chars = tf.strings.bytes_split(tf.strings.regex_replace(tf.gather(words, other), "\ue001", "\x00"))
        mapped = tf.strings.reduce_join(chars.with_flat_values(self._bytes.lookup(chars.flat_values)), axis=-1)
        spaced = tf.strings.regex_replace(tf.gather(words, plain), " ", "\u0120")
        return tf.dynamic_stitch([plain, other], [spaced, mapped])


def byte_level_settings(tok_json: dict[str, Any], file: Path) -> bool:
    """Whether the ByteLevel pre-tokenizer adds a space before the text."""
    pre = tok_json.get("pre_tokenizer") or {}
    if pre.get("type") != "ByteLevel" or not pre.get("use_regex", True):
        raise RecipeError(
            file,
            "pre_tokenizer",
            "this pre-tokenizer is not supported for a BPE model",
            allowed="ByteLevel with use_regex (GPT-2's pattern)",
            value=pre.get("type"),
        )
    return bool(pre.get("add_prefix_space", False))


def bytes_to_unicode() -> list[str]:
    """GPT-2's byte -> printable character table (byte b -> table[b])."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return [table[b] for b in range(256)]


def merges_of(model: dict[str, Any]) -> list[tuple[str, str]]:
    """The merge list of a tokenizer.json BPE model ("a b" strings or [a, b] pairs)."""
    pairs = [m.split(" ", 1) if isinstance(m, str) else m for m in model.get("merges", [])]
    return [(str(p[0]), str(p[1])) for p in pairs]


def bpe_proto(tok_json: dict[str, Any], file: Path) -> bytes:
    """A serialized SentencePiece BPE ModelProto: the vocabulary in id order, each piece
    scored by minus the rank of the merge that makes it."""
    from sentencepiece import sentencepiece_model_pb2 as sp_pb2

    model = tok_json.get("model") or {}
    if model.get("type") != "BPE" or model.get("continuing_subword_prefix") or model.get("end_of_word_suffix"):
        raise RecipeError(
            file,
            "model",
            "not a byte-level BPE model",
            allowed="type BPE without subword prefix/suffix",
            value=model.get("type"),
        )
    vocab = hf_vocab(tok_json)
    rank = {a + b: i for i, (a, b) in reversed(list(enumerate(merges_of(model))))}
    special = {t["content"] for t in tok_json.get("added_tokens") or []}
    unk = model.get("unk_token")
    proto = sp_pb2.ModelProto()
    piece_type = sp_pb2.ModelProto.SentencePiece
    trainer = proto.trainer_spec
    trainer.model_type = sp_pb2.TrainerSpec.BPE
    trainer.vocab_size = len(vocab)
    trainer.bos_id = trainer.eos_id = trainer.pad_id = -1
    normalizer = proto.normalizer_spec
    normalizer.name = "identity"
    normalizer.add_dummy_prefix = normalizer.remove_extra_whitespaces = normalizer.escape_whitespaces = False
    has_unk = False
    for i, text in enumerate(vocab):
        piece = proto.pieces.add()
        piece.piece, piece.score = text, -float(rank.get(text, 0))
        if text == unk or (unk is None and not has_unk and text in special):
            piece.type, has_unk = piece_type.UNKNOWN, True
            trainer.unk_id = i
        elif text in special:
            piece.type = piece_type.CONTROL
    if not has_unk:
        raise RecipeError(
            file,
            "model.unk_token",
            "SentencePiece needs an unknown token",
            allowed="a vocabulary with one added token",
            show_value=False,
        )
    return proto.SerializeToString()


def required_pieces(tok_json: dict[str, Any]) -> list[str]:
    """Pieces a pruned vocabulary must keep: the 256 byte characters, so any text stays
    encodable."""
    vocab = tok_json["model"]["vocab"]
    return [c for c in bytes_to_unicode() if c in vocab]


def merge_closure(tok_json: dict[str, Any], pieces: set[str]) -> set[str]:
    """`pieces` plus the inputs of every merge that makes one of them, recursively: the
    pieces BPE passes through on its way to a kept piece, so kept text segments as before."""
    merges = merges_of(tok_json["model"])
    kept = set(pieces)
    while True:
        more = {x for a, b in merges if a + b in kept for x in (a, b)} - kept
        if not more:
            return kept
        kept |= more
