"""The preprocessor follows TF Hub's Common SavedModel API for text."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def pre(minilm_build):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    return tf.saved_model.load(str(minilm_build.saved_model("preprocess")))


def _tok(pre, texts):
    import tensorflow as tf

    return pre.tokenize(tf.constant(texts))


def test_tokenize_is_ragged_words_by_pieces(pre):
    import tensorflow as tf

    tokens = _tok(pre, ["unaffable words", ""])
    assert isinstance(tokens, tf.RaggedTensor)
    assert tokens.dtype == tf.int32
    assert tokens.shape.rank == 3
    assert tokens.to_list() == [[[14477, 20961, 3468], [2616]], []]


def test_special_tokens_dict(pre):
    special = {k: int(v) for k, v in pre.tokenize.get_special_tokens_dict().items()}
    assert special == {
        "vocab_size": 30522,
        "padding_id": 0,
        "start_of_sequence_id": 101,
        "end_of_segment_id": 102,
        "mask_id": 103,
    }


def _checkpoint_variables(saved_model) -> list[str]:
    """Variable names in a SavedModel's checkpoint (what the file holds, not what the
    loaded object happens to expose)."""
    import tensorflow as tf

    names = tf.train.list_variables(str(saved_model / "variables" / "variables"))
    return [n for n, _ in names if "OBJECT_GRAPH" not in n and "save_counter" not in n]


def test_preprocessor_has_no_variables(minilm_build, tmp_path):
    import tensorflow as tf

    assert _checkpoint_variables(minilm_build.saved_model("preprocess")) == []
    holder = tf.Module()  # the same reading finds a variable when there is one
    holder.table = tf.Variable([1.0, 2.0])
    tf.saved_model.save(holder, str(tmp_path / "with_variable"))
    assert len(_checkpoint_variables(tmp_path / "with_variable")) == 1


def test_two_segments_layout_and_type_ids(pre):
    a = _tok(pre, ["hello world"])  # [7592, 2088]
    b = _tok(pre, ["good bye"])  # [2204, 9061]
    out = {k: v.numpy().tolist()[0] for k, v in pre.bert_pack_inputs([a, b], seq_length=10).items()}
    assert out["input_word_ids"] == [101, 7592, 2088, 102, 2204, 9061, 102, 0, 0, 0]
    assert out["input_type_ids"] == [0, 0, 0, 0, 1, 1, 1, 0, 0, 0]
    assert out["input_mask"] == [1, 1, 1, 1, 1, 1, 1, 0, 0, 0]


def test_long_segments_are_trimmed_to_roughly_equal_prefixes(pre):
    a = _tok(pre, [" ".join(["one"] * 20)])
    b = _tok(pre, [" ".join(["two"] * 3)])
    c = _tok(pre, [" ".join(["three"] * 20)])
    out = {k: v.numpy().tolist()[0] for k, v in pre.bert_pack_inputs([a, c], seq_length=11).items()}
    # 11 - CLS - 2 SEP = 8 tokens: 4 + 4
    assert out["input_word_ids"] == [101] + [2028] * 4 + [102] + [2093] * 4 + [102]
    out = {k: v.numpy().tolist()[0] for k, v in pre.bert_pack_inputs([a, b], seq_length=11).items()}
    # the short segment keeps all 3 tokens, the long one gets the rest
    assert out["input_word_ids"] == [101] + [2028] * 5 + [102] + [2048] * 3 + [102]


def test_three_segments_and_default_seq_length(pre):
    a, b, c = (_tok(pre, [w]) for w in ("one", "two", "three"))
    out = pre.bert_pack_inputs([a, b, c])
    assert out["input_word_ids"].shape == (1, 256)
    assert out["input_word_ids"].numpy()[0, :7].tolist() == [101, 2028, 102, 2048, 102, 2093, 102]
    assert out["input_type_ids"].numpy()[0, :8].tolist() == [0, 0, 0, 1, 1, 2, 2, 0]


def test_flat_segments_are_accepted(pre):
    flat = _tok(pre, ["hello world"]).merge_dims(-2, -1)
    out = pre.bert_pack_inputs([flat], seq_length=6)
    assert out["input_word_ids"].numpy().tolist() == [[101, 7592, 2088, 102, 0, 0]]


def test_root_call_gives_int32_fixed_length(pre):
    import tensorflow as tf

    out = pre(tf.constant(["a", "b c"]))
    assert set(out) == {"input_word_ids", "input_mask", "input_type_ids"}
    for tensor in out.values():
        assert tensor.dtype == tf.int32 and tensor.shape == (2, 256)
