"""Phased training: masked-LM first, then a sentence objective, on one network in one
`train` call; each phase has its own folder, checkpoints and TensorBoard logs, a finished
phase is not trained again, and the next phase starts from its weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import tiny_mlm_recipe

from tfhub_kit.errors import RecipeError

DATA = Path(__file__).resolve().parents[1] / "data"
STSB = {"path": str(DATA / "stsb/stsb-en-train.csv"), "format": "stsb_csv", "max_rows": 64}


def _phased(folder: Path, **final) -> Path:
    """The tiny MLM recipe with its masked-LM as phase `mlm` (20 steps) before 4 steps of
    STS regression; `final` overrides the train section's own fields."""
    tiny_mlm_recipe(folder)
    recipe = yaml.safe_load((folder / "recipe.yaml").read_text())
    train = recipe["train"]
    mlm = {
        "name": "mlm",
        "objectives": train["objectives"],
        "steps": 20,
        "eval_every": 10,
        "seq_length": train["seq_length"],
        "optimizer": {"learning_rate": 2e-3, "warmup_steps": 2},
        "select": "last",
    }
    settings = {
        "phases": [mlm],
        "objectives": [{"sts": {"data": [STSB], "loss": "cosent"}}],
        "steps": 4,
        "seq_length": 32,
        "checkpoint_every": 2,
        "eval_every": None,
        "optimizer": {"learning_rate": 1e-3, "warmup_steps": 0},
    }
    train.update(settings | final)
    recipe["export"]["saved_models"] = ["encoder", "preprocess", "embedding"]
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    return folder


@pytest.fixture(scope="module")
def phased(tmp_path_factory):
    from tfhub_kit.train import train_recipe

    # a learning rate of 1e-9 in the last phase: its weights stay those the mlm phase left
    folder = _phased(tmp_path_factory.mktemp("phased"), optimizer={"learning_rate": 1e-9, "warmup_steps": 0})
    lines: list[str] = []
    result = train_recipe(folder, out_dir=folder / "build", progress=lines.append)
    return folder, result, lines


def test_each_phase_trains_in_its_own_folder_and_the_report_records_it(phased):
    _, result, lines = phased
    phase_dir = result.run_dir / "phases" / "0-mlm"
    first = json.loads((phase_dir / "train.json").read_text())
    assert first["finished"] and first["steps"] == 20 and [o["kind"] for o in first["objectives"]] == ["mlm"]
    assert [e["step"] for e in first["evals"]] == [10, 20] and "mlm_heldout_accuracy" in first["evals"][0]
    report = json.loads((result.run_dir / "train.json").read_text())
    assert report["steps"] == 4 and [o["kind"] for o in report["objectives"]] == ["sts"]
    (record,) = report["phases"]
    assert record["name"] == "mlm" and record["folder"] == "phases/0-mlm" and record["steps"] == 20
    assert record["checkpoint"] == "last" and record["checkpoint_path"].endswith("ckpt-20")
    assert lines.index("phase 1/2: mlm") < lines.index("phase 2/2: the train section's objectives")
    assert any(line.startswith("starting from the earlier phase's weights") for line in lines)


def test_the_next_phase_starts_from_the_weights_the_phase_before_left(phased):
    import tensorflow as tf

    from tfhub_kit.networks import inspect_source, load_network
    from tfhub_kit.recipe import load_recipe

    folder, result, _ = phased
    (record,) = json.loads((result.run_dir / "train.json").read_text())["phases"]
    fresh = load_network(inspect_source(load_recipe(folder)))  # seeded like the run: the same start
    before = [w.numpy().copy() for w in fresh.backbone.weights]
    tf.train.Checkpoint(model=fresh.backbone).read(str(result.run_dir / record["checkpoint_path"])).expect_partial()
    after_mlm = [w.numpy() for w in fresh.backbone.weights]
    final = [w.numpy() for w in result.network.backbone.weights]
    assert max(np.abs(a - b).max() for a, b in zip(after_mlm, before, strict=True)) > 1e-3  # the mlm phase trained
    for mlm_weight, final_weight in zip(after_mlm, final, strict=True):
        np.testing.assert_allclose(final_weight, mlm_weight, atol=1e-5)  # 4 steps at lr 1e-9 changed nothing


def test_tensorboard_shows_every_phase(phased):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _, result, _ = phased
    tags = {}
    for logs in (result.run_dir / "phases" / "0-mlm" / "logs", result.run_dir / "logs"):
        events = EventAccumulator(str(logs), size_guidance={"tensors": 0})
        events.Reload()
        tags[logs.parent.name] = set(events.Tags()["tensors"])
    assert "loss/mlm" in tags["0-mlm"] and "eval/mlm_heldout_accuracy" in tags["0-mlm"]
    assert "loss/sts" in tags[result.run_dir.name] and "loss/mlm" not in tags[result.run_dir.name]


def test_a_rerun_reuses_finished_phases_and_export_records_them(phased):
    from tfhub_kit.docs import doc_pages
    from tfhub_kit.export import export_recipe
    from tfhub_kit.train import train_recipe

    folder, result, _ = phased
    stamp = (result.run_dir / "phases" / "0-mlm" / "train.json").stat().st_mtime_ns
    lines: list[str] = []
    again = train_recipe(folder, out_dir=folder / "build", progress=lines.append)
    assert again.run_dir == result.run_dir
    assert any("phase 1/2: mlm finished before" in line for line in lines)
    assert (result.run_dir / "phases" / "0-mlm" / "train.json").stat().st_mtime_ns == stamp
    manifest = export_recipe(folder, out_dir=folder / "build").layout.read_manifest()
    assert manifest.training is not None and [p["name"] for p in manifest.training["phases"]] == ["mlm"]
    assert "mlm" not in manifest.saved_models["encoder"]  # the last phase has no masked-LM head
    page = next(t for n, t in doc_pages(manifest, None, "https://e.com/hub").items() if n.endswith("/tiny_mlm/1.md"))
    assert "trained in 1 earlier phase:\n\n* `mlm`, 20 steps: `mlm` (" in page


def test_phase_errors_name_the_phase(tmp_path):
    from tfhub_kit.recipe import load_recipe

    folder = _phased(tmp_path)
    recipe = yaml.safe_load((folder / "recipe.yaml").read_text())
    recipe["train"]["phases"][0]["objectives"][0]["mlm"]["rate"] = 2
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    with pytest.raises(RecipeError) as err:
        load_recipe(folder)
    assert err.value.field == "train.phases[0].objectives[0].mlm.rate"

    recipe["train"]["phases"][0]["objectives"][0]["mlm"]["rate"] = 0.15
    recipe["train"]["phases"][0]["steps"] = None
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    with pytest.raises(RecipeError) as err:
        load_recipe(folder)
    assert err.value.field == "train.phases[0].steps"

    recipe["train"]["phases"][0]["steps"] = 20
    recipe["train"]["phases"].append({**json.loads(json.dumps(recipe["train"]["phases"][0])), "steps": 10})
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    with pytest.raises(RecipeError) as err:
        load_recipe(folder)
    assert err.value.field == "train.phases" and "repeat" in str(err.value)
