"""Load a build's SavedModels the way one consumer does, in a process of its own.

    python -m tfhub_kit.consumer hub.load BUILD_DIR 1e-5

`validate` runs this module once per consumer (`hub.load`, `hub.KerasLayer` under tf-keras,
Keras 3 `TFSMLayer`) in a fresh subprocess, as a user would. Each SavedModel is loaded and
called on the manifest's probe sentences; float outputs must match the probes recorded at
export within the tolerance. The last line printed is `RESULTS {json}`: per SavedModel,
"ok", "skipped: why" or the first line of the error.

This module imports only numpy and TensorFlow's packages, never the rest of the kit, so what
it checks is what a user's process sees.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

CONSUMERS = ("hub.load", "hub.KerasLayer", "TFSMLayer")
RESULTS_PREFIX = "RESULTS "


def main(argv: list[str]) -> int:
    consumer, root, tolerance = argv[0], argv[1], float(argv[2])
    with open(os.path.join(root, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    results = check_consumer(consumer, root, manifest, tolerance)
    print(RESULTS_PREFIX + json.dumps(results))
    return 0


def check_consumer(consumer: str, root: str, manifest: dict[str, Any], tolerance: float) -> dict[str, str]:
    """Per SavedModel kind: "ok", "skipped: ..." or the error's first line."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (the preprocessing graphs use its ops)

    probes = manifest["probes"]
    text = tf.constant(probes["sentences"])
    kinds = list(manifest["saved_models"])

    def close(found: Any, key: str) -> None:
        want = np.asarray(probes[key], dtype=np.float32)
        diff = float(np.abs(np.asarray(found) - want).max())
        if not diff <= tolerance:
            raise AssertionError(f"outputs differ from the manifest's probes by {diff:.3g}")

    runner = {"hub.load": _hub_load, "hub.KerasLayer": _keras_layer, "TFSMLayer": _tfsm_layer}[consumer]
    run = runner(root, text, probes, close)
    results: dict[str, str] = {}
    for kind in kinds:
        if kind == "text_generation" and consumer != "hub.load":
            results[kind] = "skipped: strings to strings, for hub.load"
            continue
        if kind == "encoder" and "preprocess" not in kinds:
            results[kind] = "skipped: needs preprocess/ to make inputs"
            continue
        try:
            run(kind)
            results[kind] = "ok"
        except Exception as exc:  # the verdict on the model: any error it raises
            results[kind] = (type(exc).__name__ + ": " + (str(exc).strip().splitlines() or [""])[0])[:300]
    return results


Close = Callable[[Any, str], None]


def _hub_load(root: str, text: Any, probes: dict[str, Any], close: Close) -> Callable[[str], None]:
    import tensorflow_hub as hub

    def run(kind: str) -> None:
        model = hub.load(os.path.join(root, kind))
        if kind == "embedding":
            close(model(text).numpy(), "embedding")
        elif kind == "preprocess":
            model(text)["input_word_ids"].numpy()
        elif kind == "text_generation":
            if [t.decode() for t in model(text).numpy()] != probes["text_generation"]:
                raise AssertionError("generated text differs")
        else:
            inputs = hub.load(os.path.join(root, "preprocess"))(text)
            close(model(inputs)["pooled_output"], "pooled_output")

    return run


def _keras_layer(root: str, text: Any, probes: dict[str, Any], close: Close) -> Callable[[str], None]:
    import tensorflow as tf
    import tensorflow_hub as hub
    import tf_keras as keras

    def run(kind: str) -> None:
        layer = hub.KerasLayer(os.path.join(root, kind), trainable=(kind != "preprocess"))
        inp = keras.Input(shape=(), dtype=tf.string)
        if kind == "encoder":
            pre = hub.KerasLayer(os.path.join(root, "preprocess"))
            model = keras.Model(inp, layer(pre(inp))["pooled_output"])
            close(model(text).numpy(), "pooled_output")
            return
        out = layer(inp)
        model = keras.Model(inp, out if kind == "embedding" else out["input_word_ids"])
        result = model(text).numpy()
        if kind == "embedding":
            close(result, "embedding")

    return run


def _tfsm_layer(root: str, text: Any, probes: dict[str, Any], close: Close) -> Callable[[str], None]:
    import keras

    def run(kind: str) -> None:
        endpoint = "__call__" if kind == "encoder" else "serving_default"
        layer = keras.layers.TFSMLayer(os.path.join(root, kind), call_endpoint=endpoint)
        if kind == "encoder":
            pre = keras.layers.TFSMLayer(os.path.join(root, "preprocess"), call_endpoint="serving_default")
            close(layer(pre(text))["pooled_output"], "pooled_output")
        elif kind == "embedding":
            close(layer(text)["default"], "embedding")
        else:
            layer(text)["input_word_ids"]

    return run


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
