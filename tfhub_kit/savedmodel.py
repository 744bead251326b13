"""SavedModel roots shared by every export: the Reusable SavedModel attributes and the
text-embedding call contract (`__call__(sentences, training)` + `serving_default`).

    root = reusable_root(variables, trainable_variables)
    root = with_text_embedding_calls(root, call)     # call(sentences, training) -> [b, dim]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def reusable_root(variables: Sequence[Any], trainable_variables: Sequence[Any]) -> Any:
    """A `tf.train.Checkpoint` root with what `hub.KerasLayer` needs besides `__call__`:
    `variables`, `trainable_variables` and `regularization_losses` (none)."""
    import tensorflow as tf

    root = tf.train.Checkpoint()
    root.variables = list(variables)
    root.trainable_variables = list(trainable_variables)
    root.regularization_losses = []
    return root


def with_text_embedding_calls(root: Any, call: Any) -> Any:
    """Give `root` the text-embedding contract around `call(sentences, training)`:
    `__call__` traced for both training modes and `serving_default` -> {"default": ...}."""
    import tensorflow as tf

    strings = tf.TensorSpec([None], tf.string, name="sentences")

    @tf.function(input_signature=[strings])
    def serving_default(sentences: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"default": call(sentences, training=False)}

    for training in (False, True):
        call.get_concrete_function(strings, training=training)
    root.__call__ = call
    root.serving_default = serving_default.get_concrete_function()
    return root
