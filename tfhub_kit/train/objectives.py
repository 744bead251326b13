"""Training objectives for sentence encoders: one function each, the formula in its docstring.

Per-example losses (`distill_mse`, `cosine_mse`) return a vector the loop sums and divides
by the global batch size; batch-level losses (`similarity_mse`, `info_nce`, `cosent`) return
the mean over the replica's batch, which the loop divides by the number of replicas. Inputs are float32.
"""

from __future__ import annotations

import tensorflow as tf


def distill_mse(student: tf.Tensor, teacher: tf.Tensor) -> tf.Tensor:
    """Knowledge distillation (Reimers & Gurevych 2020): per example,
    mean_d (student[i, d] - teacher[i, d])^2. Shapes [b, d] -> [b]."""
    return tf.reduce_mean(tf.square(student - teacher), axis=-1)


def similarity_mse(student: tf.Tensor, teacher: tf.Tensor) -> tf.Tensor:
    """Distillation of the similarity structure (any widths): with unit vectors s_i, t_i,
    mean over pairs i != j of the batch of (cos(s_i, s_j) - cos(t_i, t_j))^2.
    Shapes [b, d_student], [b, d_teacher] -> scalar."""
    s = tf.math.l2_normalize(student, axis=-1)
    t = tf.math.l2_normalize(teacher, axis=-1)
    diff = tf.matmul(s, s, transpose_b=True) - tf.matmul(t, t, transpose_b=True)
    b = tf.shape(s)[0]
    off_diagonal = 1.0 - tf.eye(b, dtype=diff.dtype)
    return tf.reduce_sum(tf.square(diff) * off_diagonal) / tf.cast(b * (b - 1), diff.dtype)


def info_nce(anchor: tf.Tensor, positive: tf.Tensor, negative: tf.Tensor | None, temperature: float) -> tf.Tensor:
    """SimCSE / multiple-negatives ranking (Gao et al. 2021): with cosine similarities
    s(a_i, c_j) over candidates c = [positives; hard negatives] of the batch,
    loss = mean_i -log( exp(s(a_i, p_i)/t) / sum_j exp(s(a_i, c_j)/t) ).
    Every other row's positive (and every hard negative) is a negative for row i."""
    a = tf.math.l2_normalize(anchor, axis=-1)
    candidates = positive if negative is None else tf.concat([positive, negative], axis=0)
    c = tf.math.l2_normalize(candidates, axis=-1)
    logits = tf.matmul(a, c, transpose_b=True) / temperature
    labels = tf.range(tf.shape(a)[0])
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    return tf.reduce_mean(losses)


def cosine_mse(first: tf.Tensor, second: tf.Tensor, score: tf.Tensor) -> tf.Tensor:
    """STS regression (sentence-transformers' CosineSimilarityLoss): per pair,
    (cos(u_i, v_i) - score_i / 5)^2 for gold scores on a 0-5 scale. -> [b]."""
    cos = tf.reduce_sum(tf.math.l2_normalize(first, axis=-1) * tf.math.l2_normalize(second, axis=-1), axis=-1)
    return tf.square(cos - score / 5.0)


def cosent(first: tf.Tensor, second: tf.Tensor, score: tf.Tensor, scale: float = 20.0) -> tf.Tensor:
    """CoSENT (Su 2022): with c_i = scale * cos(u_i, v_i),
    loss = log(1 + sum_{(i, j): score_i > score_j} exp(c_j - c_i)),
    pairs ranked by gold score must be ranked the same way by cosine."""
    cos = tf.reduce_sum(tf.math.l2_normalize(first, axis=-1) * tf.math.l2_normalize(second, axis=-1), axis=-1)
    c = cos * scale
    diff = c[None, :] - c[:, None]  # [i, j] = c_j - c_i
    wanted = tf.cast(score[:, None] > score[None, :], diff.dtype)
    masked = diff - (1.0 - wanted) * 1e12
    flat = tf.concat([tf.zeros([1], diff.dtype), tf.reshape(masked, [-1])], axis=0)
    return tf.reduce_logsumexp(flat)
