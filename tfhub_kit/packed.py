"""Padding-free inference of a keras-hub encoder: the one-piece embedding model's fast path.

A batch of sentences padded to its longest spends a quarter of its work on padding (STS-B
sentences in batches of 32). Here the dense parts of every transformer layer (the
query/key/value projections, the attention output, the feed-forward block, the layer norms)
run on the real tokens only, packed into one [tokens, dim] matrix; only the attention
scores use the padded [batch, heads, seq, seq] layout. When the pooling reads the first
token only (`cls`, `pooler`), the last layer computes that token alone.

It reads the backbone's own layers and variables at call time (fine-tuning through
`training=True`, which takes the ordinary path, moves what this path reads), and
`check_packed` compares it with the ordinary path before an export uses it.

    reason = packed_unsupported(network)          # None, or why this network cannot
    vectors = packed_pooled(network, inputs, pooling="mean", normalize=True)
"""

from __future__ import annotations

from typing import Any

from tfhub_kit.networks import Network, pool

TOLERANCE = 1e-5


def packed_unsupported(network: Network) -> str | None:
    """Why `network` cannot take the padding-free path, or None if it can."""
    import keras
    from keras_hub.layers import TransformerEncoder

    for layer in network.layer_calls:
        if type(layer) is not TransformerEncoder:
            return f"{layer.name} is a {type(layer).__name__}, not keras-hub's TransformerEncoder"
        attention = layer._self_attention_layer
        if type(attention) is not keras.layers.MultiHeadAttention or getattr(attention, "_use_gate", False):
            return f"{layer.name}: attention is not plain keras MultiHeadAttention"
        if attention._query_dense.bias is None or attention._output_dense.bias is None:
            return f"{layer.name}: attention projections without bias"
    return None


def packed_pooled(
    network: Network, inputs: dict[str, Any], *, pooling: str, normalize: bool, precision: str = "float32"
) -> Any:
    """Sentence vectors [batch, dim] as `pool(network(inputs), ...)` gives them, in inference
    mode, computed on the real tokens only. `precision="bfloat16"` runs the matmuls and the
    feed-forward block's inner activation in bfloat16, the rest (layer norms, attention
    softmax, the residual stream) in float32."""
    import tensorflow as tf

    mask = inputs["input_mask"]
    positions = tf.where(mask > 0)  # [tokens, 2]: (sentence, position), row-major
    shape = tf.shape(mask, out_type=tf.int64)
    x = tf.gather_nd(network.embeddings(inputs, training=False), positions)  # [tokens, dim]
    bias = (1.0 - tf.cast(mask, x.dtype))[:, None, None, :] * -1e9  # keys at padding
    rows = _packed_rows(mask)
    first_only = pooling in ("cls", "pooler")
    last = len(network.layer_calls) - 1
    for i, layer in enumerate(network.layer_calls):
        x = _layer(layer, x, positions, rows, bias, first_only=first_only and i == last, precision=precision)
    if first_only:  # x holds the first token of each sentence
        outputs = {"sequence_output": x[:, None, :], "pooled_output": network.pooler(x) if network.pooler else x}
        return pool(outputs, mask[:, :1], pooling=pooling, normalize=normalize)
    sequence = tf.scatter_nd(positions, x, tf.concat([shape, tf.shape(x, out_type=tf.int64)[1:]], 0))
    return pool({"sequence_output": sequence}, mask, pooling=pooling, normalize=normalize)


def pooled_vectors(
    network: Network,
    inputs: dict[str, Any],
    *,
    pooling: str,
    normalize: bool,
    padding_free: bool,
    precision: str = "float32",
) -> Any:
    """Inference sentence vectors: `packed_pooled` when `padding_free`, else the ordinary path."""
    if padding_free:
        return packed_pooled(network, inputs, pooling=pooling, normalize=normalize, precision=precision)
    return pool(network(inputs, training=False), inputs["input_mask"], pooling=pooling, normalize=normalize)


def check_packed(network: Network, inputs: dict[str, Any], *, pooling: str, normalize: bool) -> float:
    """The largest difference between the padding-free and the ordinary sentence vectors."""
    import tensorflow as tf

    ordinary = pool(network(inputs, training=False), inputs["input_mask"], pooling=pooling, normalize=normalize)
    packed = packed_pooled(network, inputs, pooling=pooling, normalize=normalize)
    return float(tf.reduce_max(tf.abs(ordinary - packed)))


def _layer(layer: Any, x: Any, positions: Any, rows: Any, bias: Any, *, first_only: bool, precision: str) -> Any:
    """One TransformerEncoder call on packed tokens [tokens, dim] -> [tokens, dim]
    (or [batch, dim], the first token of each sentence, when `first_only`)."""
    import tensorflow as tf

    attention = layer._self_attention_layer
    heads, head_dim = attention._num_heads, attention._key_dim
    dim = x.shape[-1]
    batch, seq = tf.shape(rows)[0], tf.shape(rows)[1]
    dense = _dense(precision)
    dtype = tf.dtypes.as_dtype(precision)

    residual = x
    if layer.normalize_first:
        x = layer._self_attention_layer_norm(x)
    projections = (attention._query_dense, attention._key_dense, attention._value_dense)
    # one [dim, 3 * heads * head_dim] matmul for the three projections: oneDNN runs a matmul
    # this small on one thread (it fits the L2 cache), three times over; one three times as
    # large runs on every core
    qkv = dense(
        x,
        tf.concat([tf.reshape(p.kernel, [dim, heads * head_dim]) for p in projections], 1),
        tf.concat([tf.reshape(p.bias, [-1]) for p in projections], 0),
    )
    qkv = tf.gather(qkv, rows)  # [batch, seq, 3 * heads * head_dim]: padding repeats row 0, which the bias masks
    q, k, v = tf.unstack(tf.transpose(tf.reshape(qkv, [batch, seq, 3, heads, head_dim]), [2, 0, 3, 1, 4]))
    if first_only:
        q, residual = q[:, :, :1, :], tf.gather(residual, rows[:, 0])
    scores = tf.matmul(q * attention._inverse_sqrt_key_dim, k, transpose_b=True) + bias
    mixed = tf.matmul(tf.nn.softmax(scores), v)  # [batch, heads, queries, head_dim]
    mixed = tf.reshape(tf.transpose(mixed, [0, 2, 1, 3]), [batch, -1, heads * head_dim])
    mixed = mixed[:, 0, :] if first_only else tf.gather_nd(mixed, positions)
    out = attention._output_dense
    x = dense(mixed, tf.reshape(out.kernel, [heads * head_dim, -1]), out.bias) + residual
    if not layer.normalize_first:
        x = layer._self_attention_layer_norm(x)

    residual = x
    if layer.normalize_first:
        x = layer._feedforward_layer_norm(x)
    if precision == "float32":  # keras' own Dense layers (their matmul, bias and activation fuse)
        x = layer._feedforward_output_dense(layer._feedforward_intermediate_dense(x)) + residual
    else:  # the inner activations stay in bfloat16, the next matmul's input
        inner, outer = layer._feedforward_intermediate_dense, layer._feedforward_output_dense
        h = tf.nn.bias_add(tf.matmul(tf.cast(x, dtype), tf.cast(inner.kernel, dtype)), tf.cast(inner.bias, dtype))
        h = inner.activation(h)
        x = tf.cast(tf.matmul(h, tf.cast(outer.kernel, dtype)), tf.float32) + outer.bias + residual
    if not layer.normalize_first:
        x = layer._feedforward_layer_norm(x)
    return x


def _dense(precision: str) -> Any:
    """`dense(x, kernel, bias)` -> float32, computed in `precision` (bfloat16: the matmul in
    bfloat16, the bias in float32)."""
    import tensorflow as tf

    if precision not in ("float32", "bfloat16"):
        raise ValueError(f"precision must be float32 or bfloat16, not {precision!r}")
    dtype = tf.dtypes.as_dtype(precision)

    def dense(x: Any, kernel: Any, bias: Any) -> Any:
        return tf.cast(tf.matmul(tf.cast(x, dtype), tf.cast(kernel, dtype)), tf.float32) + bias

    return dense


def _packed_rows(mask: Any) -> Any:
    """[batch, seq]: the packed row of each token; 0 at padding."""
    import tensorflow as tf

    flat = tf.reshape(mask, [-1])
    rows = tf.cumsum(flat, exclusive=True) * flat
    return tf.reshape(rows, tf.shape(mask))
