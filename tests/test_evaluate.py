"""Evaluation figures: metrics checked against scipy and PyTorch, and the release gate."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import ROOT
from helpers import copy_build

from tfhub_kit.cli import main
from tfhub_kit.datasets import read_sts
from tfhub_kit.metrics import average_ranks, pearson, retrieval_accuracy, spearman


def test_average_ranks_share_ties():
    assert average_ranks([10, 20, 20, 30, 20]).tolist() == [1, 3, 3, 5, 3]


def test_spearman_and_pearson_match_scipy_on_data_with_ties():
    from scipy import stats

    rng = np.random.default_rng(0)
    a = rng.integers(0, 6, size=500).astype(float)  # gold scores: many ties
    b = np.round(a + rng.normal(0, 1.5, size=500), 1)  # predictions: ties too
    assert spearman(a, b) == pytest.approx(stats.spearmanr(a, b).statistic, abs=1e-12)
    assert pearson(a, b) == pytest.approx(stats.pearsonr(a, b).statistic, abs=1e-12)


def test_readers_for_both_sts_formats():
    first, second, scores = read_sts(ROOT / "data" / "stsb" / "stsb-en-dev.csv", "stsb_csv")
    assert len(first) == len(second) == len(scores) == 1500
    assert first[0] == "A man with a hard hat is dancing." and scores[0] == 5.0
    first, second, scores = read_sts(ROOT / "data" / "korsts" / "sts-dev.tsv", "korsts_tsv")
    assert len(first) == 1500 and all(0 <= s <= 5 for s in scores)
    assert first[0] == "안전모를 가진 한 남자가 춤을 추고 있다." and scores[0] == 5.0


def test_retrieval_accuracy_both_directions():
    source = np.eye(3)
    # every source row's nearest target is its pair; target 1 leans towards source 2
    target = np.array([[1, 0, 0], [0, 0.2, 1], [0, 0, 1.0]])
    fwd, bwd = retrieval_accuracy(source, target)
    assert fwd == 1.0 and bwd == pytest.approx(2 / 3)


def test_sample_sts_spearman_equals_pytorch_reference(minilm_build, minilm_dir, monkeypatch, tmp_path):
    minilm_build = copy_build(minilm_build, tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # a local folder: never ask the Hub
    from scipy import stats
    from sentence_transformers import SentenceTransformer

    result = CliRunner().invoke(main, ["evaluate", str(minilm_build.root)])
    assert result.exit_code == 0, result.output
    results = json.loads((minilm_build.root / "results.json").read_text())
    ours = results["sts"]["stsb-en-dev"]["spearman"]

    first, second, gold = read_sts(ROOT / "data" / "stsb" / "stsb-en-dev.csv", "stsb_csv")
    st = SentenceTransformer(str(minilm_dir), device="cpu")
    a, b = st.encode(first, batch_size=32), st.encode(second, batch_size=32)
    cos = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    reference = 100 * stats.spearmanr(cos, gold).statistic
    assert abs(ours - reference) <= 0.1
    assert ours > 85

    assert set(results["bitext"]) == {"tatoeba-deu-eng", "tatoeba-fra-eng"}
    speed = results["speed"]
    assert speed["batch_size"] == 32 and speed["sentences"] == 1000  # the recipe's speed section
    assert speed["sentences_per_second"] == pytest.approx(speed["sentences"] / speed["seconds"])
    assert results["size"]["parameters"]["word_embeddings"] == 30522 * 384
    assert results["gates"] == [
        {"metric": "sts.stsb-en-dev.spearman", "value": ours, "threshold": 85.0, "passed": True}
    ]
    assert "gate    sts.stsb-en-dev.spearman" in result.output


def test_missed_threshold_exits_nonzero_with_figure_and_bar(minilm_build, tmp_path):
    build = tmp_path / "build"
    build.mkdir()
    shutil.copytree(minilm_build.saved_model("embedding"), build / "embedding")
    shutil.copytree(minilm_build.root / "eval_data", build / "eval_data")
    manifest = minilm_build.read_manifest().to_json()
    manifest["saved_models"] = {"embedding": manifest["saved_models"]["embedding"]}
    manifest["evaluate"]["sts"][0]["min_spearman"] = 99.0
    manifest["evaluate"]["bitext"] = []
    manifest["evaluate"]["speed"]["sentences"] = 64
    (build / "manifest.json").write_text(json.dumps(manifest))
    result = CliRunner().invoke(main, ["evaluate", str(build)])
    assert result.exit_code == 1
    assert "FAIL" in result.output
    error = result.output.strip().splitlines()[-1]
    assert error.startswith("Error: sts.stsb-en-dev.spearman is 8") and error.endswith(
        "below the recipe's bar of 99.00"
    )
    assert json.loads((build / "results.json").read_text())["ok"] is False


def _png_size(path) -> tuple[int, int]:
    import struct

    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_results_png_draws_sts_and_reference_models_and_the_card_links_it(minilm_build, tmp_path):
    from PIL import Image

    from tfhub_kit.docs import render_docs
    from tfhub_kit.errors import BuildLayoutError
    from tfhub_kit.evaluate import evaluate_build

    def copy(name: str, evaluate: dict) -> Path:
        build = tmp_path / "out" / "tfhub-kit" / name / "1"
        build.mkdir(parents=True)
        shutil.copytree(minilm_build.saved_model("embedding"), build / "embedding")
        shutil.copytree(minilm_build.root / "eval_data", build / "eval_data")
        manifest = minilm_build.read_manifest().to_json()
        manifest["model"]["name"] = name
        manifest["saved_models"] = {"embedding": manifest["saved_models"]["embedding"]}
        manifest["evaluate"] = {**manifest["evaluate"], "bitext": [], "speed": {"batch_size": 32, "sentences": 64}}
        manifest["evaluate"].update(evaluate)
        (build / "manifest.json").write_text(json.dumps(manifest))
        return build

    reference = copy("reference", {"sts": []})
    ours = copy("ours", {"reference_models": ["tfhub-kit/reference/1"]})
    with pytest.raises(BuildLayoutError, match=r"reference/1/results.json is missing: evaluate.reference_models"):
        evaluate_build(ours)
    assert not (ours / "results.png").exists()

    evaluate_build(reference)
    evaluate_build(ours)
    width, height = _png_size(ours / "results.png")
    assert (width, height) == (1260, 400)  # three panels: STS-B dev, speed, size
    image = Image.open(ours / "results.png").convert("RGB")
    assert len(image.getcolors(maxcolors=1 << 20)) > 100  # drawn, not blank
    assert (reference / "results.png").is_file()  # one panel: no STS set, no references

    render_docs(ours, asset_base="https://example.org/models")
    link = "](https://example.org/models/tfhub-kit/ours/1.results.png)"
    assert link in (ours / "docs/assets/docs/tfhub-kit/models/ours/1.md").read_text()
    assert link in (ours / "docs/kaggle/ours.md").read_text()
