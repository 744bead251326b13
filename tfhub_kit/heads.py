"""Pretraining heads built on a network: BERT's masked-LM head and ALBERT's sentence-order head.

Training creates them; export rebuilds them to restore a checkpoint and ship `encoder.mlm`.
"""

from __future__ import annotations

from typing import Any

from tfhub_kit.networks import Network


def mlm_head(network: Network) -> Any:
    """A fresh masked-LM head tied to the network's token embedding (BERT's: dense + GELU +
    layer norm, then the embedding matrix transposed plus a bias), built."""
    import keras
    import keras_hub

    embedding = network.backbone.token_embedding
    head = keras_hub.layers.MaskedLMHead(
        vocabulary_size=network.vocab_size,
        token_embedding=embedding,
        intermediate_activation=keras.activations.gelu,
        kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
        name="mlm_head",
    )
    head.build((None, None, network.hidden_dim), (None, None))
    return head


def sentence_order_head(network: Network) -> Any:
    """ALBERT's sentence-order classifier: a dense layer [hidden, 2] on `pooled_output`."""
    import keras

    head = keras.layers.Dense(2, kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02), name="sop_head")
    head.build((None, network.hidden_dim))
    return head
