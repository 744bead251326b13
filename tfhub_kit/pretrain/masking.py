"""In-graph masking for pretraining, drawn again on every call (dynamic masking).

    masker = MlmMasker.for_tokenizer(MlmConfig(whole_word=True), spec)
    out = masker(input_word_ids, input_mask, seed=tf.constant([epoch, step]))
    # out["input_word_ids"] (masked), out["masked_lm_positions"], out["masked_lm_ids"],
    # out["masked_lm_weights"]
    pairs = sentence_order(input_word_ids, input_mask, first_length, seed)   # ALBERT's SOP
    spans = text_infilling(ids, mask, seed, config=InfillingConfig(), mask_id=..., pad_id=...)  # BART
    shuffled = permute_sentences(ids, sentence_index, seed)   # BART's sentence permutation

Fixed shapes in, fixed shapes out (`[batch, seq_length]`, `[batch, max_predictions]`) and
stateless random ops keyed by a seed tensor: the step compiles under XLA (TPU-ready) and the
same seed gives the same mask on every worker; a new seed (epoch, step) gives a new mask.

Selection follows BERT: a `rate` share of the ordinary tokens (special tokens and padding
never), each selected token replaced by the mask token (`mask_rate`), a random ordinary token
(`random_rate`) or kept. `whole_word` selects words, so every piece of a selected word is
selected and no word is selected in part. Units (tokens or words) are taken in a random order
until `rate * tokens` is reached, the unit that crosses it taken with the probability of the
share below the line (randomized rounding): the expected rate is `rate` however long the
rows and words are. Never past `max_predictions`.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

# The special tokens (TF Hub's names, `TokenizerSpec.special_ids()`) a mask never selects.
SPECIAL_NAMES = ("padding_id", "start_of_sequence_id", "end_of_segment_id", "mask_id", "unk_id")
# How each family marks a piece that starts a word (WordPiece marks the others instead).
_WORD_START = {"sentencepiece": "\u2581", "bytepair": "\u0120"}


@dataclass(frozen=True)
class MlmConfig:
    """Masked-LM settings (recipe `pretrain.objectives[].mlm`)."""

    rate: float = 0.15
    mask_rate: float = 0.8
    random_rate: float = 0.1
    max_predictions: int = 20
    whole_word: bool = False


def word_starts(tokens: list[str], family: str, suffix_indicator: str = "##") -> np.ndarray:
    """[vocab] bool: True for pieces that begin a word in the tokenizer `family`."""
    if family == "wordpiece":
        return np.array([not t.startswith(suffix_indicator) for t in tokens])
    marker = _WORD_START[family]
    return np.array([t.startswith(marker) for t in tokens])


class MlmMasker:
    """Dynamic (optionally whole-word) BERT masking of packed `input_word_ids`."""

    def __init__(
        self,
        config: MlmConfig,
        *,
        tokens: list[str],
        family: str,
        special_ids: list[int],
        mask_id: int,
        suffix_indicator: str = "##",
    ) -> None:
        self.config = config
        self.mask_id = mask_id
        special = np.zeros(len(tokens), bool)
        special[list(special_ids)] = True
        self._special = tf.constant(special)
        self._starts = tf.constant(word_starts(tokens, family, suffix_indicator))
        self._ordinary = tf.constant(np.flatnonzero(~special), tf.int32)

    def all_masked(self) -> MlmMasker:
        """This masker with every selected piece replaced by the mask token (none random,
        none kept): what held-out accuracy scores, since a kept piece is answered by
        copying it."""
        other = copy.copy(self)
        other.config = dataclasses.replace(self.config, mask_rate=1.0, random_rate=0.0)
        return other

    @classmethod
    def for_tokenizer(cls, config: MlmConfig, spec: Any) -> MlmMasker:
        """The masker for a `TokenizerSpec`'s vocabulary: padding, [CLS]/[SEP] (or <s>/</s>),
        the mask and the unknown token are never selected."""
        ids = spec.special_ids()
        return cls(
            config,
            tokens=spec.vocab(),
            family=spec.family,
            special_ids=[ids[k] for k in SPECIAL_NAMES],
            mask_id=ids["mask_id"],
            suffix_indicator=spec.suffix_indicator,
        )

    def __call__(
        self, input_word_ids: Any, input_mask: Any, seed: Any, *, offset: Any = 0, total: Any = None
    ) -> dict[str, Any]:
        """Mask a [batch, seq] batch; `seed` is a [2] int tensor (stateless random ops).

        A batch that is rows `offset .. offset + batch` of a global batch of `total` rows
        (one worker's or replica's share) draws exactly what those rows get when the whole
        global batch is masked at once.
        """
        cfg = self.config
        ids = tf.cast(input_word_ids, tf.int32)
        batch, length = tf.shape(ids)[0], tf.shape(ids)[1]
        total = batch if total is None else total

        def draw(width: Any, seed: Any, **kwargs: Any) -> Any:
            return _uniform([total, width], seed, **kwargs)[offset : offset + batch]

        select_seed, cut_seed, replace_seed, random_seed = tf.unstack(
            tf.random.experimental.stateless_split(seed, 4, alg="philox")
        )
        special = tf.logical_or(tf.gather(self._special, ids), tf.equal(input_mask, 0))
        ordinary = tf.logical_not(special)

        # Units: one per token, or one per word (a word starts at a word-start piece or
        # after a special token; special tokens are units of their own, never selected).
        if cfg.whole_word:
            after_special = tf.concat([tf.ones([batch, 1], tf.bool), special[:, :-1]], axis=1)
            starts = tf.gather(self._starts, ids) | special | after_special
        else:
            starts = tf.ones_like(special)
        unit = tf.cumsum(tf.cast(starts, tf.int32), axis=1) - 1
        noise = draw(length, select_seed)
        key = tf.where(special, 2.0, tf.gather(noise, unit, batch_dims=1))

        # Tokens in the random unit order (a unit's pieces stay together and in order),
        # counted cumulatively; a unit is taken while a random point inside it (the same
        # fraction for the whole row) is below the target count: randomized rounding, so the
        # expected count is exactly `rate` times the row's ordinary tokens.
        order = tf.argsort(key, axis=1, stable=True)
        counted = tf.cumsum(tf.cast(tf.gather(ordinary, order, batch_dims=1), tf.float32), axis=1)
        rows = tf.broadcast_to(tf.range(batch)[:, None], [batch, length])
        counted = tf.scatter_nd(tf.stack([rows, order], axis=-1), counted, [batch, length])  # back in place
        segments = unit + tf.range(batch)[:, None] * length
        flat_segments = tf.reshape(segments, [-1])
        n_segments = batch * length
        unit_end = tf.math.unsorted_segment_max(tf.reshape(counted, [-1]), flat_segments, n_segments)
        unit_len = tf.math.unsorted_segment_sum(tf.ones_like(flat_segments, tf.float32), flat_segments, n_segments)
        unit_end = tf.reshape(tf.gather(unit_end, segments), [batch, length])
        unit_len = tf.reshape(tf.gather(unit_len, segments), [batch, length])
        n_ordinary = tf.reduce_sum(tf.cast(ordinary, tf.float32), axis=1, keepdims=True)
        cut = draw(1, cut_seed)
        within = unit_end - unit_len * (1.0 - cut) < n_ordinary * cfg.rate
        selected = ordinary & within & (unit_end <= cfg.max_predictions)

        # 80/10/10, drawn per token.
        roll = draw(length, replace_seed)
        to_mask = selected & (roll < cfg.mask_rate)
        to_random = selected & (roll >= cfg.mask_rate) & (roll < cfg.mask_rate + cfg.random_rate)
        pick = draw(length, random_seed, maxval=tf.size(self._ordinary))
        masked = tf.where(to_mask, self.mask_id, tf.where(to_random, tf.gather(self._ordinary, pick), ids))

        # Selected positions first, in position order, padded with weight 0.
        position = tf.broadcast_to(tf.range(length)[None, :], [batch, length])
        rank = tf.where(selected, length - position, -position)
        positions = tf.math.top_k(rank, k=cfg.max_predictions).indices
        weights = tf.gather(selected, positions, batch_dims=1)
        positions = tf.where(weights, positions, 0)
        return {
            "input_word_ids": tf.cast(masked, input_word_ids.dtype),
            "input_mask": input_mask,
            "masked_lm_positions": positions,
            "masked_lm_ids": tf.where(weights, tf.gather(ids, positions, batch_dims=1), 0),
            "masked_lm_weights": tf.cast(weights, tf.float32),
        }


def sentence_order(
    input_word_ids: Any, input_mask: Any, first_length: Any, seed: Any, *, offset: Any = 0, total: Any = None
) -> dict[str, Any]:
    """ALBERT's sentence-order prediction on packed pairs `[CLS] a [SEP] b [SEP]` (two
    consecutive segments of one document, `a` of `first_length` pieces): with probability
    0.5 a row becomes `[CLS] b [SEP] a [SEP]`. Returns `input_word_ids`, `input_type_ids`
    (1 for the second segment and its [SEP]) and `sentence_order_label` (1 where swapped).
    `offset`/`total` draw a share of a global batch as `MlmMasker` does."""
    ids = tf.cast(input_word_ids, tf.int32)
    batch, length = tf.shape(ids)[0], tf.shape(ids)[1]
    total = batch if total is None else total
    swap = (_uniform([total], seed) < 0.5)[offset : offset + batch]
    a = tf.cast(first_length, tf.int32)[:, None]
    b = tf.reduce_sum(tf.cast(input_mask, tf.int32), axis=1, keepdims=True) - a - 3
    j = tf.range(length)[None, :]
    source = tf.where(  # where each position of the swapped row comes from
        (j >= 1) & (j <= b),
        j + a + 1,  # the second segment moves to the front
        tf.where(j == b + 1, a + 1, tf.where((j >= b + 2) & (j <= a + b + 1), j - b - 1, j)),
    )
    swapped = tf.gather(ids, tf.broadcast_to(source, [batch, length]), batch_dims=1)
    out_ids = tf.where(swap[:, None], swapped, ids)
    first = tf.where(swap[:, None], b, a)
    type_ids = tf.cast((j > first + 1) & tf.not_equal(input_mask, 0), tf.int32)
    return {
        "input_word_ids": tf.cast(out_ids, input_word_ids.dtype),
        "input_type_ids": type_ids,
        "sentence_order_label": tf.cast(swap, tf.int32),
    }


def permute_sentences(
    input_word_ids: Any, sentence_index: Any, seed: Any, *, offset: Any = 0, total: Any = None
) -> dict[str, Any]:
    """BART's sentence permutation on packed rows: the sentences of each row (numbered 1, 2,
    ... in `sentence_index`, 0 outside them) are put in a uniformly random order, each kept
    whole; `[CLS]`, the final `[SEP]` and the padding stay where they are. Returns
    `input_word_ids` (permuted) and `source_positions` (where each token came from).
    `offset`/`total` draw a share of a global batch as `MlmMasker` does."""
    ids = tf.cast(input_word_ids, tf.int32)
    sentence = tf.cast(sentence_index, tf.int32)
    batch, length = tf.shape(ids)[0], tf.shape(ids)[1]
    total = batch if total is None else total
    keys = _uniform([total, length + 1], seed)[offset : offset + batch]  # one per sentence number
    rank = tf.argsort(tf.argsort(keys, axis=1, stable=True), axis=1, stable=True)
    position = tf.range(length)[None, :]
    span = length + 1
    score = tf.where(  # before: [CLS]; then sentences by their random rank; then the rest
        sentence > 0,
        1 + tf.gather(rank, sentence, batch_dims=1) * span + position,
        tf.where(position == 0, 0, span * span + position),
    )
    source = tf.argsort(score, axis=1, stable=True)
    return {
        "input_word_ids": tf.cast(tf.gather(ids, source, batch_dims=1), input_word_ids.dtype),
        "source_positions": source,
    }


@dataclass(frozen=True)
class InfillingConfig:
    """BART text infilling settings (recipe `pretrain.objectives[].infilling`)."""

    mask_ratio: float = 0.3
    poisson_lambda: float = 3.0


def text_infilling(
    token_ids: Any,
    padding_mask: Any,
    seed: Any,
    *,
    config: InfillingConfig,
    mask_id: int,
    pad_id: int,
    offset: Any = 0,
    total: Any = None,
) -> dict[str, Any]:
    """BART's text infilling on packed `<s> tokens </s> <pad>...` rows ([batch, seq]).

    Span lengths are drawn from Poisson(lambda) until `mask_ratio` of each row's ordinary
    tokens are covered (the last span is cut to fit); the spans are laid out at random
    without overlap; each span becomes one mask token, and a zero-length span inserts one.
    Returns `encoder_token_ids` / `encoder_padding_mask` (the corrupted rows) and
    `target_ids` (the original rows, for the decoder), `target_in_span` (which of them were
    masked), plus `span_starts` / `span_lengths`
    ([batch, seq], in ordinary-token positions, length -1 for unused slots). `offset`/`total`
    draw a share of a global batch as `MlmMasker` does.
    """
    ids = tf.cast(token_ids, tf.int32)
    batch, length = tf.shape(ids)[0], tf.shape(ids)[1]
    rows_total = batch if total is None else total
    length_seed, place_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2, alg="philox"))
    n = tf.reduce_sum(tf.cast(padding_mask, tf.int32), axis=1) - 2  # ordinary tokens (no <s>, </s>)
    n = tf.maximum(n, 0)
    to_mask = tf.cast(tf.round(tf.cast(n, tf.float32) * config.mask_ratio), tf.int32)

    # Span lengths until each row's budget is covered; slot k is used while the spans
    # before it cover less than the budget, and the last used one is cut to fit.
    drawn = _poisson([rows_total, length], length_seed, config.poisson_lambda)[offset : offset + batch]
    before = tf.cumsum(drawn, axis=1, exclusive=True)
    used = before < to_mask[:, None]
    lengths = tf.where(used, tf.minimum(drawn, to_mask[:, None] - before), 0)

    # Layout: each used span sits after a gap; gaps are sorted random points among the
    # row's free (unmasked) tokens, so spans never overlap.
    free = n - to_mask
    gap = _uniform([rows_total, length], place_seed)[offset : offset + batch]
    gap = tf.cast(tf.floor(gap * tf.cast(free[:, None] + 1, tf.float32)), tf.int32)
    gap = tf.sort(tf.where(used, gap, tf.int32.max), axis=1)
    starts = tf.where(used, gap + tf.cumsum(lengths, axis=1, exclusive=True), -1)

    # Per packed position p (ordinary token index p - 1): inside a span, first of a span,
    # and how many zero-length spans insert a mask just before it.
    token = tf.range(length)[None, None, :] - 1  # [1, 1, seq]
    s, ln = starts[:, :, None], lengths[:, :, None]
    inside = tf.reduce_any((token >= s) & (token < s + ln) & (ln > 0), axis=1)
    first = tf.reduce_any((token == s) & (ln > 0), axis=1)
    inserts = tf.reduce_sum(tf.cast((token == s) & (ln == 0) & used[:, :, None], tf.int32), axis=1)

    keep = tf.cast(tf.logical_or(tf.logical_not(inside), first), tf.int32) * tf.cast(padding_mask, tf.int32)
    emitted = keep + inserts
    total = tf.reduce_sum(emitted, axis=1)
    slot = tf.cumsum(emitted, axis=1) - 1  # where each kept token lands
    value = tf.where(first, mask_id, ids)
    position = tf.range(length)[None, :]
    # Inserted masks fill the slots no kept token lands on; tokens past the end (and the
    # slots of dropped tokens) go to a spare column, cut off after the scatter: fixed shapes.
    corrupted = tf.where(tf.range(length + 1)[None, :] < total[:, None], mask_id, pad_id)
    rows = tf.broadcast_to(tf.range(batch)[:, None], [batch, length])
    column = tf.where((keep > 0) & (slot < length), slot, length)
    corrupted = tf.tensor_scatter_nd_update(corrupted, tf.stack([rows, column], axis=-1), value)[:, :length]
    return {
        "encoder_token_ids": tf.cast(corrupted, token_ids.dtype),
        "encoder_padding_mask": tf.cast(position < tf.minimum(total, length)[:, None], padding_mask.dtype),
        "target_ids": token_ids,
        "target_in_span": inside & tf.cast(padding_mask, tf.bool),
        "span_starts": starts,
        "span_lengths": tf.where(used, lengths, -1),
    }


def _uniform(shape: Any, seed: Any, maxval: Any = None) -> Any:
    """Stateless U[0, 1) floats (or integers in [0, maxval)) that TensorFlow's kernels and
    XLA's draw alike: Philox named (`auto_select` picks different generators) and floats
    made from 24-bit integers (their float conversions differ)."""
    top = (1 << 24) if maxval is None else maxval
    bits = tf.random.stateless_uniform(shape, seed, minval=0, maxval=top, dtype=tf.int32, alg="philox")
    return bits if maxval is not None else tf.cast(bits, tf.float32) / float(1 << 24)


def _poisson(shape: Any, seed: Any, lam: float) -> Any:
    """Stateless Poisson(lam) integers by inverse CDF (XLA has no Poisson kernel)."""
    k = np.arange(64)
    log_pmf = k * np.log(lam) - lam - np.cumsum(np.log(np.maximum(k, 1)))
    cdf = tf.constant(
        np.cumsum(np.exp(log_pmf))[: int(np.searchsorted(np.cumsum(np.exp(log_pmf)), 1 - 1e-7))], tf.float32
    )
    u = _uniform(shape, seed)
    return tf.reduce_sum(tf.cast(u[..., None] >= cdf, tf.int32), axis=-1)
