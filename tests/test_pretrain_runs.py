"""Pretraining runs as a user runs them: killed and resumed, on two workers sharing one
disk, continuing a Hugging Face checkpoint (a file of its own, beside the tiny-BERT fixture
of test_pretrain_mlm.py, so the two run in parallel)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf
import yaml
from helpers import kill_after_first_checkpoint, tiny_mlm_recipe

from tfhub_kit.export import export_recipe
from tfhub_kit.train import train_recipe


def test_a_killed_streamed_mlm_run_resumes_and_ends_as_if_uninterrupted(tmp_path):
    """The recipe (streaming its shards) run in a process killed after its step-30
    checkpoint, then rerun, ends with the weights, optimizer and head of a run that went
    straight to step 60."""
    import subprocess
    import sys
    from pathlib import Path

    recipe = tiny_mlm_recipe(tmp_path, steps=60, checkpoint_every=30, eval_every=None)
    cmd = [str(Path(sys.executable).parent / "tfhub-kit"), "train", str(recipe), "--out", str(tmp_path / "a")]
    runs = tmp_path / "a" / "test" / "tiny_mlm" / "runs"
    kill_after_first_checkpoint(cmd, runs)
    resumed = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from step 30" in resumed.stderr
    assert "unchanged, reusing" in resumed.stderr  # the corpus shards were not prepared again
    straight = train_recipe(recipe, out_dir=tmp_path / "b")

    (run,) = [p for p in runs.iterdir() if not p.name.endswith(".lock")]  # beside it: the run's writer lock
    assert run.name == straight.run_dir.name
    a = tf.train.load_checkpoint(str(run / "ckpt" / "ckpt-60"))
    b = tf.train.load_checkpoint(str(straight.run_dir / "ckpt" / "ckpt-60"))
    names = [n for n in b.get_variable_to_shape_map() if n.startswith(("model/", "optimizer/", "mlm_head/"))]
    assert any(n.startswith("mlm_head/") for n in names)
    for name in names:
        np.testing.assert_allclose(a.get_tensor(name), b.get_tensor(name), atol=1e-6, err_msg=name)


def test_pretraining_continues_from_a_checkpoint_with_a_fresh_head(tmp_path, minilm_dir):
    """A Hugging Face checkpoint without an MLM head: the run starts from its weights (they
    move by little, not re-drawn) with a new head, and the export gains `encoder.mlm`."""
    from helpers import tiny_hf_checkpoint
    from safetensors.numpy import load_file

    tiny_hf_checkpoint("bert", tmp_path / "hf", minilm_dir / "vocab.txt")
    recipe = yaml.safe_load((tiny_mlm_recipe(tmp_path) / "recipe.yaml").read_text())
    recipe["source"] = {"hf_folder": "hf"}
    recipe["train"] |= {"steps": 20, "checkpoint_every": 20, "eval_every": 20, "jit_compile": False}
    recipe["train"]["optimizer"] = {"learning_rate": 1e-4, "warmup_steps": 2}
    recipe["pretrain"]["corpus"]["files"][0]["max_rows"] = 400
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    result = train_recipe(tmp_path, out_dir=tmp_path / "build")
    assert "mlm_head" in result.heads
    start = load_file(str(tmp_path / "hf" / "model.safetensors"))["embeddings.word_embeddings.weight"]
    trained = result.network.word_embeddings.numpy()
    moved = np.abs(trained - start).max()
    assert 0 < moved < 0.01, moved  # random weights would differ by ~0.02 everywhere
    layout = export_recipe(tmp_path, out_dir=tmp_path / "build").layout
    manifest = json.loads((layout.root / "manifest.json").read_text())
    assert "mlm" in manifest["saved_models"]["encoder"]


@pytest.mark.slow
def test_two_workers_pretrain_from_one_corpus_on_a_shared_disk(tmp_path):
    """Two workers on loopback, one output folder: the chief prepares the corpus while the
    other waits, then each streams its own shard; both end with the same weights."""
    from helpers import load_weights, two_workers

    folder = tiny_mlm_recipe(tmp_path, strategy="multi_worker", steps=3, eval_every=None, checkpoint_every=3)
    out = tmp_path / "build"
    outputs = two_workers(folder, [out, out], [tmp_path / "w0.npz", tmp_path / "w1.npz"])
    chief, worker = load_weights(tmp_path / "w0.npz"), load_weights(tmp_path / "w1.npz")
    for key in chief:
        np.testing.assert_array_equal(chief[key], worker[key], err_msg=key)
    assert "tokenized" in outputs[0] and "step 3/3" in outputs[0]
    assert "tokenized" not in outputs[1] and "step 3/3" not in outputs[1]  # only the chief reports
    corpus = out / "test" / "tiny_mlm" / "corpus"
    manifest = json.loads((corpus / "corpus.json").read_text())
    shards = {s["name"] for e in manifest["files"] for s in e["shards"]}
    assert {p.name for p in corpus.iterdir()} == shards | {"corpus.json"}  # nothing half-written or stale


def test_roberta_from_scratch_pretrains_on_a_byte_level_bpe_and_exports_its_mlm(tmp_path):
    """`architecture: roberta` with a byte-level BPE tokenizer folder: keras-hub's
    RobertaBackbone, masked-LM on the kit's BPE ids in mixed bfloat16 (the TPU switch), an
    export whose `encoder.mlm` validates."""
    from helpers import tiny_family_checkpoint

    from tfhub_kit.validate import validate_build

    tiny_family_checkpoint("roberta", tmp_path / "bpe")  # its tokenizer folder: a BPE trained here
    folder = tiny_mlm_recipe(
        tmp_path, steps=20, eval_every=20, checkpoint_every=20, jit_compile=False, precision="bfloat16"
    )
    recipe = yaml.safe_load((folder / "recipe.yaml").read_text())
    recipe["source"]["scratch"] |= {"vocab": "bpe", "architecture": "roberta"}
    recipe["pretrain"]["corpus"]["files"][0]["max_rows"] = 1000
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    result = train_recipe(folder, out_dir=tmp_path / "build")
    assert type(result.network.backbone).__name__ == "RobertaBackbone"
    vocab = json.loads((tmp_path / "bpe" / "tokenizer.json").read_text())["model"]["vocab"]
    assert result.summary["final_losses"]["mlm"] < np.log(len(vocab))  # below a uniform guess after 20 steps
    layout = export_recipe(folder, out_dir=tmp_path / "build").layout
    manifest = json.loads((layout.root / "manifest.json").read_text())
    assert "mlm" in manifest["saved_models"]["encoder"] and manifest["tokenizer"]["packing"] == "roberta"
    report = validate_build(layout.root, consumers=False)
    assert report.ok, [r for r in report.results if not r.passed]


def test_roberta_from_scratch_needs_a_tokenizer_folder(tmp_path):
    from tfhub_kit.errors import RecipeError
    from tfhub_kit.recipe import load_recipe

    folder = tiny_mlm_recipe(tmp_path)  # vocab: a WordPiece vocab.txt
    recipe = yaml.safe_load((folder / "recipe.yaml").read_text())
    recipe["source"]["scratch"]["architecture"] = "roberta"
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    with pytest.raises(RecipeError) as err:
        load_recipe(folder)
    assert err.value.field == "source.scratch.vocab" and "byte-level BPE" in str(err.value)
