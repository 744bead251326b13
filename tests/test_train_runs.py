"""The training stage as users run it: two workers on loopback against one process, and a
run SIGKILLed after a checkpoint then resumed (a file of its own, beside test_train.py, so
the two run in parallel)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import kill_after_first_checkpoint, load_weights, tiny_train_recipe, train_process, two_workers


@pytest.mark.slow
def test_two_workers_train_like_one_process(tmp_path, tiny_hf_no_dropout):
    multi = tiny_train_recipe(tmp_path / "multi", tiny_hf_no_dropout, strategy="multi_worker", steps=6)
    single = tiny_train_recipe(tmp_path / "single", tiny_hf_no_dropout, strategy="cpu", steps=6)
    outputs = two_workers(multi, [tmp_path / "out0", tmp_path / "out1"], [tmp_path / "w0.npz", tmp_path / "w1.npz"])
    one_proc = train_process(single, tmp_path / "one", tmp_path / "one.npz")
    out = one_proc.communicate(timeout=600)[0]
    assert one_proc.returncode == 0, out[-3000:]

    chief, worker, one = (load_weights(tmp_path / f) for f in ("w0.npz", "w1.npz", "one.npz"))
    assert chief.keys() == worker.keys() == one.keys()
    for key in chief:
        np.testing.assert_array_equal(chief[key], worker[key], err_msg=key)
        np.testing.assert_allclose(chief[key], one[key], atol=1e-5, err_msg=key)
    assert any(not np.allclose(one[k], v) for k, v in _weights_untrained(tmp_path, single).items())
    # Only the chief wrote the run: checkpoints, logs, train.json.
    (run,) = [
        p for p in (tmp_path / "out0" / "test" / "tiny_trained" / "runs").iterdir() if not p.name.endswith(".lock")
    ]
    assert (run / "train.json").is_file() and (run / "logs").is_dir() and list((run / "ckpt").glob("ckpt-6*"))
    assert not (tmp_path / "out1" / "test" / "tiny_trained" / "runs").exists()
    assert "step 6/6" in outputs[0] and "step 6/6" not in outputs[1]
    assert json.loads((run / "train.json").read_text())["replicas"] == 2


def _weights_untrained(tmp_path: Path, recipe: Path) -> dict[str, np.ndarray]:
    from tfhub_kit.build import build_model
    from tfhub_kit.recipe import load_recipe

    with build_model(load_recipe(recipe), out_dir=tmp_path / "untrained") as built:
        return {k.replace("/", "."): v for k, v in built.network.weights_by_path().items()}


@pytest.mark.slow
def test_a_run_killed_after_a_checkpoint_resumes_and_ends_as_if_uninterrupted(tmp_path, tiny_hf):
    recipe = tiny_train_recipe(tmp_path / "r", tiny_hf, steps=200, checkpoint_every=20, log_every=20)
    cmd = [str(Path(sys.executable).parent / "tfhub-kit"), "train", str(recipe)]
    ckpt_dir = tmp_path / "a" / "test" / "tiny_trained" / "runs"
    kill_after_first_checkpoint([*cmd, "--out", str(tmp_path / "a")], ckpt_dir)
    (run,) = [p for p in ckpt_dir.iterdir() if not p.name.endswith(".lock")]
    assert not (run / "train.json").exists()

    resumed = subprocess.run(
        [*cmd, "--out", str(tmp_path / "a")], check=False, capture_output=True, text=True, timeout=600
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    (line,) = [x for x in resumed.stderr.splitlines() if "resuming from step" in x]
    step = int(line.split("resuming from step ")[1].split()[0])
    assert 20 <= step < 200 and step % 20 == 0
    straight = subprocess.run(
        [*cmd, "--out", str(tmp_path / "b")], check=False, capture_output=True, text=True, timeout=600
    )
    assert straight.returncode == 0, straight.stderr[-3000:]
    assert "resuming" not in straight.stderr

    import tensorflow as tf

    a = tf.train.load_checkpoint(str(run / "ckpt" / "ckpt-200"))
    (run_b,) = [
        p for p in (tmp_path / "b" / "test" / "tiny_trained" / "runs").iterdir() if not p.name.endswith(".lock")
    ]
    b = tf.train.load_checkpoint(str(run_b / "ckpt" / "ckpt-200"))
    names = [n for n in a.get_variable_to_shape_map() if n.startswith(("model/", "optimizer/", "rng/"))]
    assert any(n.startswith("rng/") for n in names)  # dropout's generator state is part of a resume
    for name in names:
        np.testing.assert_allclose(a.get_tensor(name), b.get_tensor(name), atol=1e-6, err_msg=name)
