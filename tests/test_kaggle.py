"""Kaggle Models, offline: handle checks, and exactly what would be uploaded."""

from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner
from helpers import copy_build

from tfhub_kit.cli import main
from tfhub_kit.docs import render_docs
from tfhub_kit.errors import PublishError
from tfhub_kit.publish.kaggle import plan_kaggle, publish_kaggle

TARGET = "kaggle://tfhub-kit/all-minilm-l6-v2/tensorFlow2/default"


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        ("kaggle://Acme/model/tensorFlow2/default", "not a Kaggle model location"),
        ("kaggle://acme/model/tensorFlow2", "not a Kaggle model location"),
        ("kaggle://acme/model/pyTorch/default", "framework must be 'tensorFlow2'"),
        ("kaggle://ac/model/tensorFlow2/default", "at least 3 characters"),
    ],
)
def test_bad_handles_are_refused(minilm_build, target, problem):
    with pytest.raises(PublishError, match=problem):
        plan_kaggle(minilm_build.root, target)


def test_plan_lists_each_variation_directory_and_files(minilm_build, tmp_path):
    minilm_build = copy_build(minilm_build, tmp_path)
    render_docs(minilm_build.root)
    plan = plan_kaggle(minilm_build.root, TARGET)
    assert [u.handle for u in plan.uploads] == [
        "tfhub-kit/all-minilm-l6-v2/tensorFlow2/default",
        "tfhub-kit/all-minilm-l6-v2/tensorFlow2/default-encoder",
        "tfhub-kit/all-minilm-l6-v2/tensorFlow2/default-preprocess",
    ]
    embedding = plan.uploads[0]
    assert embedding.directory == minilm_build.saved_model("embedding")
    assert {"saved_model.pb", "assets/vocab.txt", "variables/variables.index"} <= set(embedding.files)
    assert embedding.license_name == "Apache 2.0"
    assert embedding.version_notes.startswith("tfhub-kit/all_minilm_l6_v2/1 (embedding)")
    assert plan.card == minilm_build.docs / "kaggle" / "all_minilm_l6_v2.md"
    assert plan.card.read_text().startswith("# all_minilm_l6_v2\n")

    # --force: the plan is what this test reads; the release gate has its own tests (test_gate.py)
    result = CliRunner().invoke(main, ["publish", str(minilm_build.root), "--to", TARGET, "--dry-run", "--force"])
    assert result.exit_code == 0
    assert "tfhub-kit/all-minilm-l6-v2/tensorFlow2/default-encoder  <- " in result.output


def test_missing_kagglehub_gives_an_install_hint(minilm_build, monkeypatch, tmp_path):
    minilm_build = copy_build(minilm_build, tmp_path)
    render_docs(minilm_build.root)
    monkeypatch.setitem(sys.modules, "kagglehub", None)  # as if not installed
    with pytest.raises(PublishError, match=r"pip install 'tfhub-kit\[kaggle\]'"):
        publish_kaggle(plan_kaggle(minilm_build.root, TARGET))
