"""Pretraining masks: BERT's 15% with 80/10/10, whole words, dynamic, XLA; ALBERT's SOP."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import tensorflow as tf

from tfhub_kit.pretrain.masking import (
    SPECIAL_NAMES,
    InfillingConfig,
    MlmConfig,
    MlmMasker,
    permute_sentences,
    sentence_order,
    text_infilling,
)
from tfhub_kit.tokenizers import tokenizer_spec_from_hf
from tfhub_kit.tokenizers.build import build_preprocessor

SEQ = 64
ROOT_SENTENCES = "data/stsb/stsb-en-train.sentences.txt"


@pytest.fixture(scope="module")
def corpus(minilm_dir):
    """10,000 real STS-B train sentences packed by MiniLM's preprocessor, and its vocabulary."""
    from conftest import ROOT

    spec = tokenizer_spec_from_hf(minilm_dir, "bert")
    lines = (ROOT / ROOT_SENTENCES).read_text(encoding="utf-8").splitlines()[:10_000]
    pre = build_preprocessor(spec, SEQ)
    packed = pre(tf.constant(lines))
    return spec, {k: v.numpy() for k, v in packed.items()}


def _masker(spec, **options) -> MlmMasker:
    return MlmMasker.for_tokenizer(MlmConfig(max_predictions=24, **options), spec)


def _run(masker, packed, seed=(1, 2)):
    out = masker(tf.constant(packed["input_word_ids"]), tf.constant(packed["input_mask"]), tf.constant(seed))
    return {k: v.numpy() for k, v in out.items()}


def _selected(out) -> np.ndarray:
    """[batch, seq] bool: the positions chosen for prediction."""
    sel = np.zeros(out["input_word_ids"].shape, bool)
    rows, cols = np.nonzero(out["masked_lm_weights"])
    sel[rows, out["masked_lm_positions"][rows, cols]] = True
    return sel


def _special(spec, ids, mask) -> np.ndarray:
    s = spec.special_ids()
    banned = [s[k] for k in SPECIAL_NAMES]
    return np.isin(ids, banned) | (mask == 0)


@pytest.mark.parametrize("whole_word", [False, True])
def test_mlm_selects_15_percent_with_80_10_10_and_never_a_special_token(corpus, whole_word):
    spec, packed = corpus
    out = _run(_masker(spec, whole_word=whole_word), packed)
    ids, sel = packed["input_word_ids"], _selected(out)
    special = _special(spec, ids, packed["input_mask"])
    assert not (sel & special).any()
    rate = sel.sum() / (~special).sum()
    assert abs(rate - 0.15) <= 0.005, rate
    # masked_lm_ids are the original ids at the positions; padding slots have weight 0
    rows, cols = np.nonzero(out["masked_lm_weights"])
    assert (out["masked_lm_ids"][rows, cols] == ids[rows, out["masked_lm_positions"][rows, cols]]).all()
    assert (out["masked_lm_weights"].sum(axis=1) <= 24).all()
    new = out["input_word_ids"][sel]
    mask_id = spec.special_ids()["mask_id"]
    shares = np.array(
        [(new == mask_id).mean(), ((new != mask_id) & (new != ids[sel])).mean(), (new == ids[sel]).mean()]
    )
    assert np.all(np.abs(shares - [0.8, 0.1, 0.1]) <= 0.01), shares
    assert not np.isin(new[new != ids[sel]], [i for i in np.unique(ids[special]) if i != mask_id]).any()
    assert (out["input_word_ids"][~sel] == ids[~sel]).all()


def test_the_evaluation_masker_masks_the_same_positions_with_the_mask_token_only(corpus):
    spec, packed = corpus
    masker = _masker(spec)
    train, held_out = _run(masker, packed), _run(masker.all_masked(), packed)
    assert (_selected(train) == _selected(held_out)).all()  # the same draw of positions
    sel = _selected(held_out)
    assert (held_out["input_word_ids"][sel] == spec.special_ids()["mask_id"]).all()  # nothing left to copy
    assert (held_out["input_word_ids"][~sel] == packed["input_word_ids"][~sel]).all()
    assert masker.config.mask_rate == 0.8  # the training masker is unchanged


def test_whole_word_masks_every_piece_of_a_selected_word_and_no_partial_word(corpus):
    spec, packed = corpus
    out = _run(_masker(spec, whole_word=True), packed)
    sel = _selected(out)
    vocab = spec.vocab()
    ids, special = packed["input_word_ids"], _special(spec, packed["input_word_ids"], packed["input_mask"])
    words = multi_piece = 0
    for row in range(len(ids)):
        start = None
        for t in range(SEQ + 1):
            begins = t == SEQ or special[row, t] or not vocab[ids[row, t]].startswith("##")
            if begins and start is not None:
                chosen = sel[row, start:t]
                assert chosen.all() or not chosen.any(), (row, start, t)
                words += 1
                multi_piece += int(chosen.all() and t - start > 1)
                start = None
            if t < SEQ and not special[row, t] and (begins or start is None):
                start = t
    assert words > 100_000 and multi_piece > 500  # the rule was exercised on real multi-piece words


def test_masks_are_redrawn_for_each_seed_and_repeat_for_the_same_seed(corpus):
    spec, packed = corpus
    masker = _masker(spec, whole_word=True)
    first, again, other = _run(masker, packed, (0, 1)), _run(masker, packed, (0, 1)), _run(masker, packed, (1, 1))
    assert all((first[k] == again[k]).all() for k in first)
    overlap = (_selected(first) & _selected(other)).sum() / _selected(first).sum()
    assert overlap < 0.3  # independent draws share ~15% of their positions


def test_masking_compiles_under_xla_with_the_same_result(corpus):
    spec, packed = corpus
    masker = _masker(spec, whole_word=True)
    batch = {k: tf.constant(v[:256]) for k, v in packed.items()}
    compiled = tf.function(masker.__call__, jit_compile=True)
    xla = compiled(batch["input_word_ids"], batch["input_mask"], tf.constant([3, 4]))
    eager = masker(batch["input_word_ids"], batch["input_mask"], tf.constant([3, 4]))
    for key in eager:
        np.testing.assert_array_equal(xla[key].numpy(), eager[key].numpy())


def test_sentence_order_swaps_half_the_pairs_and_labels_them():
    rng = np.random.default_rng(0)
    n, seq, cls, sep = 10_000, 16, 101, 102
    first_len, second_len = rng.integers(1, 7, n), rng.integers(1, 7, n)
    ids, mask = np.zeros([n, seq], np.int32), np.zeros([n, seq], np.int32)
    for i, (a, b) in enumerate(zip(first_len, second_len, strict=False)):
        row = [cls, *range(1000, 1000 + a), sep, *range(2000, 2000 + b), sep]
        ids[i, : len(row)], mask[i, : len(row)] = row, 1
    out = sentence_order(tf.constant(ids), tf.constant(mask), tf.constant(first_len), tf.constant([7, 8]))
    got, types, label = (out[k].numpy() for k in ("input_word_ids", "input_type_ids", "sentence_order_label"))
    assert abs(label.mean() - 0.5) <= 0.02
    for i in range(n):
        a, b = (second_len[i], first_len[i]) if label[i] else (first_len[i], second_len[i])
        first = range(2000, 2000 + a) if label[i] else range(1000, 1000 + a)
        second = range(1000, 1000 + b) if label[i] else range(2000, 2000 + b)
        assert got[i].tolist() == [cls, *first, sep, *second, sep] + [0] * (seq - a - b - 3)
        assert types[i].tolist() == [0] * (a + 2) + [1] * (b + 1) + [0] * (seq - a - b - 3)
    # a share of a global batch draws what the whole batch draws
    share = sentence_order(ids[40:60], mask[40:60], first_len[40:60], tf.constant([7, 8]), offset=40, total=n)
    np.testing.assert_array_equal(share["sentence_order_label"].numpy(), label[40:60])


@pytest.fixture(scope="module")
def documents(corpus, minilm_dir):
    """Rows of five consecutive sentences each, packed to 64 pieces (about 60 ordinary tokens)."""
    from conftest import ROOT

    spec, _ = corpus
    lines = (ROOT / ROOT_SENTENCES).read_text(encoding="utf-8").splitlines()[:10_000]
    text = [" ".join(lines[i : i + 5]) for i in range(0, len(lines), 5)]
    packed = build_preprocessor(spec, SEQ)(tf.constant(text))
    return {k: v.numpy() for k, v in packed.items()}


def _infill(spec, packed, seed=(5, 6)):
    ids = spec.special_ids()
    out = text_infilling(
        tf.constant(packed["input_word_ids"]),
        tf.constant(packed["input_mask"]),
        tf.constant(seed),
        config=InfillingConfig(),
        mask_id=ids["mask_id"],
        pad_id=ids["padding_id"],
    )
    return {k: v.numpy() for k, v in out.items()}


def test_infilling_masks_30_percent_in_poisson_spans_each_one_mask_token(corpus, documents):
    spec, _ = corpus
    mask_id, pad_id = spec.special_ids()["mask_id"], spec.special_ids()["padding_id"]
    out = _infill(spec, documents)
    ids, mask = documents["input_word_ids"], documents["input_mask"]
    n = mask.sum(axis=1) - 2
    used = out["span_lengths"] >= 0
    lengths = out["span_lengths"][used]
    assert abs(lengths.sum() / n.sum() - 0.3) <= 0.02
    assert 2.6 <= lengths.mean() <= 3.1, lengths.mean()  # Poisson(3), the last span of a row cut to fit
    assert (lengths == 0).sum() > 20  # zero-length spans occur and insert a mask
    np.testing.assert_array_equal(out["target_ids"], ids)
    for row in range(len(ids)):
        tokens, cursor, expected = list(ids[row, 1 : 1 + n[row]]), 0, [ids[row, 0]]
        for start, length in zip(out["span_starts"][row][used[row]], out["span_lengths"][row][used[row]], strict=False):
            expected += [*tokens[cursor:start], mask_id]
            cursor = start + length
        expected += [*tokens[cursor:], ids[row, 1 + n[row]]]
        expected += [pad_id] * (SEQ - len(expected))
        np.testing.assert_array_equal(out["encoder_token_ids"][row], expected[:SEQ])
        assert out["encoder_padding_mask"][row].sum() == min(len(expected) - expected.count(pad_id), SEQ)


def test_infilling_compiles_under_xla_and_redraws_for_a_new_seed(corpus, documents):
    spec, _ = corpus
    ids = spec.special_ids()
    batch = {k: tf.constant(v[:256]) for k, v in documents.items()}

    def corrupt(word_ids, mask, seed):
        config = InfillingConfig()
        return text_infilling(word_ids, mask, seed, config=config, mask_id=ids["mask_id"], pad_id=ids["padding_id"])

    xla = tf.function(corrupt, jit_compile=True)(batch["input_word_ids"], batch["input_mask"], tf.constant([5, 6]))
    eager = corrupt(batch["input_word_ids"], batch["input_mask"], tf.constant([5, 6]))
    for key in eager:
        np.testing.assert_array_equal(xla[key].numpy(), eager[key].numpy())
    other = corrupt(batch["input_word_ids"], batch["input_mask"], tf.constant([6, 6]))
    assert (other["encoder_token_ids"].numpy() != eager["encoder_token_ids"].numpy()).any(axis=1).mean() > 0.9


def test_a_share_of_a_global_batch_draws_what_the_whole_batch_draws(corpus):
    spec, packed = corpus
    masker = _masker(spec, whole_word=True)
    ids, mask = tf.constant(packed["input_word_ids"][:256]), tf.constant(packed["input_mask"][:256])
    whole = masker(ids, mask, tf.constant([2, 9]))
    parts = [masker(ids[a:b], mask[a:b], tf.constant([2, 9]), offset=a, total=256) for a, b in ((0, 100), (100, 256))]
    for key in whole:
        np.testing.assert_array_equal(np.concatenate([p[key].numpy() for p in parts]), whole[key].numpy())


@pytest.fixture(scope="module")
def packed_sentences(corpus):
    """Real STS-B sentences (documents of two) packed FULL-SENTENCES style as `data prepare`
    packs them, with each token's sentence number."""
    from conftest import ROOT

    from tfhub_kit.pretrain.corpus import pack_full_sentences
    from tfhub_kit.tokenizers import flat_ids
    from tfhub_kit.tokenizers.build import build_tokenize

    spec, _ = corpus
    lines = (ROOT / ROOT_SENTENCES).read_text(encoding="utf-8").splitlines()[:8_000]
    pieces = [np.asarray(r) for r in flat_ids(build_tokenize(spec)(tf.constant(lines))).numpy()]
    special = spec.special_ids()
    cls, sep, pad = special["start_of_sequence_id"], special["end_of_segment_id"], special["padding_id"]
    rows, index = [], []
    for body, starts in pack_full_sentences([pieces[i : i + 2] for i in range(0, len(pieces), 2)], SEQ - 2, sep):
        row = [cls, *body, sep] + [pad] * (SEQ - len(body) - 2)
        number = np.zeros(SEQ, np.int32)
        for k, start in enumerate(starts):
            number[1 + start : 1 + (starts[k + 1] if k + 1 < len(starts) else len(body))] = k + 1
        rows.append(row)
        index.append(number)
    ids = np.asarray(rows, np.int32)
    return {"input_word_ids": ids, "input_mask": (ids != pad).astype(np.int32), "sentence_index": np.stack(index)}


def test_sentence_permutation_shuffles_whole_sentences_uniformly(packed_sentences):
    ids, index = packed_sentences["input_word_ids"], packed_sentences["sentence_index"]
    out = permute_sentences(tf.constant(ids), tf.constant(index), tf.constant([3, 4]))
    new, source = out["input_word_ids"].numpy(), out["source_positions"].numpy()
    counts = index.max(axis=1)
    for row in range(len(ids)):
        np.testing.assert_array_equal(new[row], ids[row][source[row]])
        inside = index[row] > 0
        np.testing.assert_array_equal(new[row][~inside], ids[row][~inside])  # [CLS], last [SEP], padding stay
        moved = index[row][source[row]][inside]  # sentence numbers in their new order
        runs = [moved[0]] + [b for a, b in itertools.pairwise(moved) if b != a]
        assert sorted(runs) == list(range(1, counts[row] + 1))  # every sentence once, in one piece
        for k in runs:  # each keeps its own token order
            np.testing.assert_array_equal(new[row][index[row][source[row]] == k], ids[row][index[row] == k])
    orders = {2: [], 3: []}  # the orders ten seeds draw for the rows of two and three sentences
    for seed in range(10):
        drawn = permute_sentences(tf.constant(ids), tf.constant(index), tf.constant([seed, 0]))
        moved = np.take_along_axis(index, drawn["source_positions"].numpy(), axis=1)
        for row in np.nonzero((counts == 2) | (counts == 3))[0]:
            numbers = moved[row][moved[row] > 0]
            orders[int(counts[row])].append(tuple(numbers[np.r_[True, numbers[1:] != numbers[:-1]]]))
    assert len(orders[2]) > 3000 and len(orders[3]) > 2000
    assert abs(np.mean([o == (2, 1) for o in orders[2]]) - 0.5) < 0.03
    for order in itertools.permutations((1, 2, 3)):
        assert abs(np.mean([o == order for o in orders[3]]) - 1 / 6) < 0.03, order
    again = permute_sentences(tf.constant(ids), tf.constant(index), tf.constant([3, 5]))["input_word_ids"].numpy()
    assert (again != new).any(axis=1)[counts >= 3].mean() > 0.6  # a new seed draws new orders
    share = permute_sentences(
        tf.constant(ids[10:30]), tf.constant(index[10:30]), tf.constant([3, 4]), offset=10, total=len(ids)
    )
    np.testing.assert_array_equal(share["input_word_ids"].numpy(), new[10:30])


def test_permuted_infilling_targets_the_original_row(corpus, packed_sentences):
    from tfhub_kit.train.data import infilling_features

    spec, _ = corpus
    special = spec.special_ids()
    options = {
        "mask_ratio": 0.3,
        "poisson_lambda": 3.0,
        "permute_sentences": True,
        "padding_id": special["padding_id"],
        "mask_id": special["mask_id"],
        "decoder_start_id": special["end_of_segment_id"],
    }
    rows = {k: tf.constant(v[:512]) for k, v in packed_sentences.items()}
    out = {k: v.numpy() for k, v in infilling_features(rows, tf.constant([1, 2], tf.int64), options).items()}
    ids = packed_sentences["input_word_ids"][:512]
    np.testing.assert_array_equal(out["labels"], ids)
    plain = {
        k: v.numpy()
        for k, v in infilling_features(
            rows, tf.constant([1, 2], tf.int64), {**options, "permute_sentences": False}
        ).items()
    }
    several = packed_sentences["sentence_index"][:512].max(axis=1) >= 2
    hidden = (special["mask_id"], special["padding_id"])
    seen = [[t for t in row if t not in hidden] for row in out["encoder_token_ids"]]
    differs = [a != [t for t in b if t not in hidden] for a, b in zip(seen, plain["encoder_token_ids"], strict=False)]
    assert np.mean(np.asarray(differs)[several]) > 0.4  # the encoder sees shuffled sentences
    for row in range(len(ids)):  # in_span marks, in the original row, the tokens the encoder did not see
        kept = ids[row][(out["label_weights"][row] > 0) & ~out["in_span"][row]]
        assert sorted(kept) == sorted(seen[row])
    assert abs(out["in_span"].sum() / (out["label_weights"].sum() - 2 * len(ids)) - 0.3) < 0.02
