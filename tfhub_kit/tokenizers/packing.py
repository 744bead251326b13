"""`bert_pack_inputs`: token segments -> `input_word_ids`, `input_mask`, `input_type_ids`.

Follows TF Hub's Common SavedModel API for text, with each family's packing rule:

- `bert`: `[CLS] seg1 [SEP] seg2 [SEP] ...`; type ids 0 for `[CLS]`, the first segment, its
  `[SEP]` and the padding, 1 for the second segment, and so on.
- `roberta`: `<s> seg1 </s></s> seg2 </s> ...` (fairseq's pair format); type ids all 0.

Long segments are trimmed as Hugging Face trims them (so ids match what a model was
fine-tuned on): one segment is cut at the end; of two, the longer one is cut first until
both fit or are equally long, the longer keeping an odd slot (`longest_first`); three or
more are trimmed round-robin to roughly equal prefixes. Then padding follows.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf
import tensorflow_text as tf_text

from tfhub_kit.tokenizers.spec import flat_ids


def special_count(rule: str, segments: int) -> int:
    """How many special tokens `rule` adds around `segments` segments."""
    return 2 * segments if rule == "roberta" else segments + 1


def pack_segments(
    segments: list[Any],
    seq_length: Any,
    *,
    cls_id: int,
    sep_id: int,
    pad_id: int,
    rule: str = "bert",
    fixed_length: bool = True,
) -> dict[str, tf.Tensor]:
    """Pack ragged int32 segments ([b, (tokens)] or [b, (words), (pieces)]).

    With `fixed_length` the outputs are [b, seq_length]; otherwise they are padded only to the
    longest packed row (at most seq_length), which is what a strings-to-embedding model wants.
    """
    flat = [flat_ids(s) for s in segments]
    budget = seq_length - special_count(rule, len(flat))
    trimmed = _longest_first(flat, budget) if len(flat) == 2 else tf_text.RoundRobinTrimmer(budget).trim(flat)
    if rule == "roberta":  # every segment after the first opens with a second </s>
        trimmed = [trimmed[0]] + [
            tf.concat([tf.fill([s.nrows(), 1], tf.cast(sep_id, s.dtype)), s], axis=1) for s in trimmed[1:]
        ]
    ids, type_ids = tf_text.combine_segments(trimmed, start_of_sequence_id=cls_id, end_of_segment_id=sep_id)
    ids = tf.cast(ids, tf.int32)
    type_ids = tf.cast(type_ids, tf.int32)
    if rule == "roberta":
        type_ids = tf.zeros_like(type_ids)
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


def _longest_first(pair: list[Any], budget: Any) -> list[Any]:
    """HF tokenizers' `LongestFirst` truncation of two [b, (tokens)] segments to `budget`."""
    a, b = pair
    la, lb = a.row_lengths(), b.row_lengths()
    budget = tf.cast(budget, la.dtype)
    short = tf.minimum(la, lb)
    long_target = tf.where(short > budget, short, tf.maximum(short, budget - short))
    both = short + long_target > budget
    short_target = tf.where(both, budget // 2, short)
    long_target = tf.where(both, budget // 2 + budget % 2, long_target)
    fits = la + lb <= budget
    a_target = tf.where(fits, la, tf.where(la > lb, long_target, short_target))
    b_target = tf.where(fits, lb, tf.where(la > lb, short_target, long_target))

    def cut(segment: Any, target: Any) -> Any:
        keep = tf.ragged.range(segment.row_lengths()) < tf.expand_dims(target, 1)
        return tf.ragged.boolean_mask(segment, keep)

    return [cut(a, a_target), cut(b, b_target)]


class BertPackInputs(tf.Module):
    """`pre.bert_pack_inputs(segments, seq_length=N)`; N defaults to the export's seq_length."""

    def __init__(self, seq_length: int, special_ids: dict[str, int], rule: str = "bert") -> None:
        super().__init__(name="bert_pack_inputs")
        self._seq_length = seq_length
        self._cls = special_ids["start_of_sequence_id"]
        self._sep = special_ids["end_of_segment_id"]
        self._pad = special_ids["padding_id"]
        self._rule = rule

    @tf.function
    def __call__(self, inputs: list[Any], seq_length: Any = None) -> dict[str, tf.Tensor]:
        if seq_length is None:
            seq_length = self._seq_length
        return pack_segments(
            list(inputs), seq_length, cls_id=self._cls, sep_id=self._sep, pad_id=self._pad, rule=self._rule
        )

    def trace(self, max_segments: int = 3) -> None:
        """Trace 1..max_segments segments, word-level and flat, default and given seq_length."""
        for n in range(1, max_segments + 1):
            for ragged_rank, shape in ((2, [None, None, None]), (1, [None, None])):
                spec = [tf.RaggedTensorSpec(shape, tf.int32, ragged_rank=ragged_rank)] * n
                self.__call__.get_concrete_function(spec)
                self.__call__.get_concrete_function(spec, seq_length=tf.TensorSpec([], tf.int32))
