"""The preprocessing SavedModel root shared by every tokenizer family.

pre = Preprocessor(tokenize, spec, seq_length=128)
pre(strings)                      # -> input_word_ids, input_mask, input_type_ids
pre.tokenize(strings)             # -> int32 ragged ids
pre.bert_pack_inputs([a, b], seq_length=64)
pre.tokenize.get_special_tokens_dict()
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from tfhub_kit.tokenizers.packing import BertPackInputs, pack_segments
from tfhub_kit.tokenizers.spec import TokenizerSpec

STRINGS = tf.TensorSpec([None], tf.string)
SPECIAL_TOKEN_NAMES = ("vocab_size", "padding_id", "start_of_sequence_id", "end_of_segment_id", "mask_id")


def special_tokens_function(special_ids: dict[str, int]) -> Any:
    """`get_special_tokens_dict()` (TF Hub's API): int32 scalars for `SPECIAL_TOKEN_NAMES`."""

    @tf.function(input_signature=[])
    def get_special_tokens_dict() -> dict[str, tf.Tensor]:
        return {name: tf.constant(special_ids[name], tf.int32) for name in SPECIAL_TOKEN_NAMES}

    return get_special_tokens_dict


class Preprocessor(tf.Module):
    """The preprocessing SavedModel root: `pre(strings[b])` -> the encoder's input dict.

    Attributes `tokenize` and `bert_pack_inputs` follow the Common SavedModel API for text;
    `pack_dynamic` packs to the longest row instead of a fixed length (used by the
    strings-to-embedding model so short batches stay cheap).
    """

    def __init__(self, tokenize: tf.Module, spec: TokenizerSpec, seq_length: int) -> None:
        super().__init__(name="preprocess")
        self.seq_length = seq_length
        self._ids = spec.special_ids()
        tokenize.get_special_tokens_dict = special_tokens_function(self._ids)
        self.tokenize = tokenize
        self._rule = spec.packing
        self.bert_pack_inputs = BertPackInputs(seq_length, self._ids, spec.packing)
        self.bert_pack_inputs.trace()

    @tf.function(input_signature=[STRINGS])
    def __call__(self, sentences: tf.Tensor) -> dict[str, tf.Tensor]:
        return self.bert_pack_inputs([self.tokenize(sentences)])

    def pack_dynamic(self, sentences: tf.Tensor) -> dict[str, tf.Tensor]:
        """Like `__call__`, but padded to the longest sentence (at most seq_length)."""
        return pack_segments(
            [self.tokenize(sentences)],
            self.seq_length,
            cls_id=self._ids["start_of_sequence_id"],
            sep_id=self._ids["end_of_segment_id"],
            pad_id=self._ids["padding_id"],
            rule=self._rule,
            fixed_length=False,
        )

    @property
    def serving_default(self) -> Any:
        """The `serving_default` signature: the root call."""
        return self.__call__.get_concrete_function()
