"""The WordPiece family (BERT, DistilBERT): `pre.tokenize` built from tensorflow-text ops.

Reproduces Hugging Face's BertTokenizer (fast and slow agree): text cleanup (control
characters dropped, whitespace unified), accent stripping (NFD, drop marks) and lowercasing
as the checkpoint asks, splitting on whitespace, punctuation and CJK ideographs, then
greedy longest-match WordPiece with words over 100 characters mapped to [UNK].
The vocabulary file is stored as a SavedModel asset.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_text as tf_text

from tfhub_kit.tokenizers.preprocessor import STRINGS
from tfhub_kit.tokenizers.spec import TokenizerSpec

_PUNCT = r"!-/:-@\[-`{-~\p{P}"
"""ASCII punctuation and Unicode's P categories, as an RE2 character-class body."""
_CJK = "".join(
    rf"\x{{{a}}}-\x{{{b}}}"
    for a, b in (
        ("4E00", "9FFF"),
        ("3400", "4DBF"),
        ("20000", "2A6DF"),
        ("2A700", "2B73F"),
        ("2B740", "2B81F"),
        ("2B820", "2CEAF"),
        ("F900", "FAFF"),
        ("2F800", "2FA1F"),
    )
)
"""CJK ideographs, as BERT's tokenizer lists them, as an RE2 character-class body."""


def normalize(text: tf.Tensor, spec: TokenizerSpec) -> tf.Tensor:
    """HF BertNormalizer: drop control/format characters, unify white space, strip
    accents (NFD, drop marks) and lowercase character by character, as the checkpoint asks.
    Printable-ASCII strings, which none of these rules change but the case, skip the
    Unicode passes (one pass to find them instead of four)."""
    plain = tf.strings.regex_full_match(text, "[ -~]*")
    plain_at, other_at = (tf.cast(tf.where(m)[:, 0], tf.int32) for m in (plain, ~plain))
    simple = tf.gather(text, plain_at)
    if spec.lower_case:
        simple = tf.strings.lower(simple)
    return tf.dynamic_stitch([plain_at, other_at], [simple, _normalize_unicode(tf.gather(text, other_at), spec)])


def _normalize_unicode(text: tf.Tensor, spec: TokenizerSpec) -> tf.Tensor:
    text = tf.strings.regex_replace(text, r"[\t\n\r\p{Zs}]", " ")
    text = tf.strings.regex_replace(text, r"[\x{FFFD}\p{C}]", "")
    if spec.strip_accents:
        text = tf_text.normalize_utf8(text, "NFD")
        text = tf.strings.regex_replace(text, r"\p{Mn}", "")
    if spec.lower_case:
        # HF lowercases character by character: no final-sigma rule, unlike ICU.
        text = tf.strings.regex_replace(text, "\u03a3", "\u03c3")
        text = tf.strings.lower(text, encoding="utf-8")
    return text


class Tokenize(tf.Module):
    """`pre.tokenize(strings[b])` -> int32 RaggedTensor [b, (words), (pieces)], HF's rules."""

    def __init__(self, spec: TokenizerSpec) -> None:
        super().__init__(name="tokenize")
        self._spec = spec
        self._max_chars = spec.max_chars_per_word
        keep = _PUNCT + (_CJK if spec.split_cjk else "")
        self._split = rf"(\s+)|([{keep}])"  # white space goes; punctuation (and CJK) stay as words
        self._unk_id = spec.unk_id()
        self.vocab_file = tf.saved_model.Asset(str(spec.vocab_file))  # ships with the SavedModel
        self._wordpiece = tf_text.FastWordpieceTokenizer(
            spec.vocab(),
            suffix_indicator=spec.suffix_indicator,
            max_bytes_per_word=4 * spec.max_chars_per_word,
            token_out_type=tf.int32,
            unknown_token=spec.special.unk,
            no_pretokenization=True,
            support_detokenization=False,
        )

    @tf.function(input_signature=[STRINGS])
    def __call__(self, sentences: tf.Tensor) -> tf.RaggedTensor:
        words = self.split_words(sentences)
        # Each distinct word of the batch is looked up once.
        unique, index = tf.unique(words.flat_values)
        pieces = self._unk_long_words(unique, self._wordpiece.tokenize(unique))  # [unique, (pieces)]
        return words.with_flat_values(tf.gather(pieces, index))  # [b, (words), (pieces)]

    def split_words(self, sentences: tf.Tensor) -> tf.RaggedTensor:
        """Normalise like HF's BertNormalizer, then split into words: [b, (words)] strings.
        (The normaliser drops NUL, so NUL can mark word breaks: regex_replace + split is
        several times faster than tensorflow-text's regex_split.)"""
        text = tf.strings.regex_replace(normalize(sentences, self._spec), self._split, "\x00\\2\x00")
        words = tf.strings.split(text, sep="\x00")
        return tf.ragged.boolean_mask(words, words != "")

    def _unk_long_words(self, words: tf.Tensor, pieces: tf.RaggedTensor) -> tf.RaggedTensor:
        """HF maps a word longer than max_input_chars_per_word (in characters) to one [UNK]:
        words [n] strings, pieces [n, (pieces)]."""
        too_long = tf.strings.length(words, unit="UTF8_CHAR") > self._max_chars
        keep = tf.RaggedTensor.from_row_lengths(tf.repeat(~too_long, pieces.row_lengths()), pieces.row_lengths())
        kept = tf.ragged.boolean_mask(pieces, keep)
        unk = tf.RaggedTensor.from_row_lengths(
            tf.fill([tf.reduce_sum(tf.cast(too_long, tf.int32))], self._unk_id),
            tf.cast(too_long, tf.int64),
        )
        return tf.concat([kept, unk], axis=1)


class CountingTokenizer(tf.Module):
    """strings[b] -> int32 RaggedTensor [b, (tokens)] with the ids `Tokenize` gives, about
    twice as fast, for counting corpora: FastWordpieceTokenizer splits words itself after
    the same normalisation (CJK ideographs spaced out first). One deliberate difference:
    a word over 100 characters (but at most 400 bytes) yields its pieces rather than one
    [UNK], which can only keep extra tokens, never drop needed ones."""

    def __init__(self, spec: TokenizerSpec) -> None:
        super().__init__(name="counting_tokenizer")
        self._spec = spec
        self._wordpiece = tf_text.FastWordpieceTokenizer(
            spec.vocab(),
            suffix_indicator=spec.suffix_indicator,
            max_bytes_per_word=4 * spec.max_chars_per_word,
            token_out_type=tf.int32,
            unknown_token=spec.special.unk,
            no_pretokenization=False,
            support_detokenization=False,
        )

    @tf.function(input_signature=[STRINGS])
    def __call__(self, sentences: tf.Tensor) -> tf.RaggedTensor:
        text = normalize(sentences, self._spec)
        if self._spec.split_cjk:
            text = tf.strings.regex_replace(text, f"([{_CJK}])", " \\1 ")
        return self._wordpiece.tokenize(text)
