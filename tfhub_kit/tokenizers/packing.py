"""`bert_pack_inputs`: token segments -> `input_word_ids`, `input_mask`, `input_type_ids`.

Follows TF Hub's Common SavedModel API for text: `[CLS] seg1 [SEP] seg2 [SEP] ...` then
padding; long segments are trimmed round-robin to roughly equal prefixes; type ids are 0 for
`[CLS]`, the first segment, its `[SEP]` and the padding, 1 for the second segment, and so on.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf
import tensorflow_text as tf_text


def pack_segments(
    segments: list[Any],
    seq_length: Any,
    *,
    cls_id: int,
    sep_id: int,
    pad_id: int,
    fixed_length: bool = True,
) -> dict[str, tf.Tensor]:
    """Pack ragged int32 segments ([b, (tokens)] or [b, (words), (pieces)]).

    With `fixed_length` the outputs are [b, seq_length]; otherwise they are padded only to the
    longest packed row (at most seq_length), which is what a strings-to-embedding model wants.
    """
    flat = [s.merge_dims(-2, -1) if s.ragged_rank == 2 else s for s in segments]
    budget = seq_length - len(flat) - 1
    trimmed = tf_text.RoundRobinTrimmer(max_seq_length=budget).trim(flat)
    ids, type_ids = tf_text.combine_segments(trimmed, start_of_sequence_id=cls_id, end_of_segment_id=sep_id)
    ids = tf.cast(ids, tf.int32)
    type_ids = tf.cast(type_ids, tf.int32)
    if fixed_length:
        if isinstance(seq_length, int):
            shape = [None, seq_length]
        else:
            shape = tf.stack([ids.nrows(), tf.cast(seq_length, ids.row_splits.dtype)])
        word_ids = ids.to_tensor(default_value=pad_id, shape=shape)
        mask = tf.ones_like(ids).to_tensor(default_value=0, shape=shape)
        types = type_ids.to_tensor(default_value=0, shape=shape)
    else:
        word_ids = ids.to_tensor(default_value=pad_id)
        mask = tf.ones_like(ids).to_tensor(default_value=0)
        types = type_ids.to_tensor(default_value=0)
    return {"input_word_ids": word_ids, "input_mask": mask, "input_type_ids": types}


class BertPackInputs(tf.Module):
    """`pre.bert_pack_inputs(segments, seq_length=N)`; N defaults to the export's seq_length."""

    def __init__(self, seq_length: int, special_ids: dict[str, int]) -> None:
        super().__init__(name="bert_pack_inputs")
        self._seq_length = seq_length
        self._cls = special_ids["start_of_sequence_id"]
        self._sep = special_ids["end_of_segment_id"]
        self._pad = special_ids["padding_id"]

    @tf.function
    def __call__(self, inputs: list[Any], seq_length: Any = None) -> dict[str, tf.Tensor]:
        if seq_length is None:
            seq_length = self._seq_length
        return pack_segments(list(inputs), seq_length, cls_id=self._cls, sep_id=self._sep, pad_id=self._pad)

    def trace(self, max_segments: int = 3) -> None:
        """Trace 1..max_segments segments, word-level and flat, default and given seq_length."""
        for n in range(1, max_segments + 1):
            for ragged_rank, shape in ((2, [None, None, None]), (1, [None, None])):
                spec = [tf.RaggedTensorSpec(shape, tf.int32, ragged_rank=ragged_rank)] * n
                self.__call__.get_concrete_function(spec)
                self.__call__.get_concrete_function(spec, seq_length=tf.TensorSpec([], tf.int32))
