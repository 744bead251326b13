"""Each consumer path, in a fresh process that never imports keras_hub, as a user runs it."""

from __future__ import annotations

import json

from helpers import run_python

NO_KERAS_HUB = "import sys; assert 'keras_hub' not in sys.modules, 'keras_hub was imported'"


def _probes(build) -> dict:
    return build.read_manifest().probes


def test_hub_load_all_three(minilm_build):
    out = run_python(
        f"""
        import json, numpy as np, tensorflow as tf, tensorflow_hub as hub, tensorflow_text
        root = {str(minilm_build.root)!r}
        probes = json.loads(open(root + "/manifest.json").read())["probes"]
        text = tf.constant(probes["sentences"])
        pre, enc, emb = (hub.load(f"{{root}}/{{k}}") for k in ("preprocess", "encoder", "embedding"))
        inputs = pre(text)
        out = enc(inputs)
        assert sorted(out) == ["default", "encoder_outputs", "pooled_output", "sequence_output"], sorted(out)
        assert len(out["encoder_outputs"]) == 6
        np.testing.assert_array_equal(out["encoder_outputs"][-1].numpy(), out["sequence_output"].numpy())
        np.testing.assert_allclose(out["pooled_output"].numpy(), probes["pooled_output"], atol=1e-5)
        np.testing.assert_allclose(emb(text).numpy(), probes["embedding"], atol=1e-5)
        {NO_KERAS_HUB}
        print(json.dumps({{"dim": int(emb(text).shape[1])}}))
        """
    )
    assert json.loads(out.splitlines()[-1]) == {"dim": 384}


def test_keras_layer_under_tf_keras_fine_tunes(minilm_build):
    out = run_python(
        f"""
        import json, numpy as np, tensorflow as tf, tensorflow_hub as hub, tensorflow_text
        import tf_keras as keras
        root = {str(minilm_build.root)!r}
        results = {{}}
        # the one-piece embedding model, fine-tuned
        text = keras.Input(shape=(), dtype=tf.string)
        emb = hub.KerasLayer(root + "/embedding", trainable=True)
        model = keras.Model(text, keras.layers.Dense(1)(emb(text)))
        model.compile(keras.optimizers.SGD(0.1), "mse")
        before = [w.numpy().copy() for w in emb.trainable_weights]
        model.fit(tf.constant(["a cat", "a dog", "the sun", "rain"]), tf.constant([1.0, 0.0, 1.0, 0.0]), epochs=1, verbose=0)
        results["embedding_changed"] = sum(not np.array_equal(b, w.numpy()) for b, w in zip(before, emb.trainable_weights))
        results["embedding_trainable"] = len(emb.trainable_weights)
        # preprocess + encoder, the BERT way
        pre = hub.KerasLayer(root + "/preprocess")
        enc = hub.KerasLayer(root + "/encoder", trainable=True)
        pooled = enc(pre(text))["pooled_output"]
        model = keras.Model(text, keras.layers.Dense(1)(pooled))
        model.compile(keras.optimizers.SGD(0.1), "mse")
        before = [w.numpy().copy() for w in enc.trainable_weights]
        model.fit(tf.constant(["a cat", "a dog"]), tf.constant([1.0, 0.0]), epochs=1, verbose=0)
        results["encoder_changed"] = sum(not np.array_equal(b, w.numpy()) for b, w in zip(before, enc.trainable_weights))
        {NO_KERAS_HUB}
        print(json.dumps(results))
        """
    )
    results = json.loads(out.splitlines()[-1])
    assert results["embedding_trainable"] > 100
    assert results["embedding_changed"] > 0.9 * results["embedding_trainable"]
    assert results["encoder_changed"] > 0


def test_tfsm_layer_under_keras3(minilm_build):
    out = run_python(
        f"""
        import json, numpy as np, tensorflow as tf, tensorflow_text, keras
        assert keras.__version__.startswith("3"), keras.__version__
        root = {str(minilm_build.root)!r}
        probes = json.loads(open(root + "/manifest.json").read())["probes"]
        text = tf.constant(probes["sentences"])
        emb = keras.layers.TFSMLayer(root + "/embedding", call_endpoint="serving_default")
        pre = keras.layers.TFSMLayer(root + "/preprocess", call_endpoint="serving_default")
        enc = keras.layers.TFSMLayer(root + "/encoder", call_endpoint="__call__")
        inp = keras.Input(shape=(), dtype="string")
        model = keras.Model(inp, emb(inp)["default"])
        np.testing.assert_allclose(model(text).numpy(), probes["embedding"], atol=1e-5)
        pooled = enc(pre(text))["pooled_output"]
        np.testing.assert_allclose(pooled.numpy(), probes["pooled_output"], atol=1e-5)
        {NO_KERAS_HUB}
        print("ok")
        """
    )
    assert out.strip().endswith("ok")
