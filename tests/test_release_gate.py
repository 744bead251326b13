"""`tfhub-kit release` stops at a missed quality bar: nothing reaches GCS (a test of its own
so that it runs beside test_release.py's end-to-end release)."""

from __future__ import annotations

import os

import yaml
from click.testing import CliRunner
from conftest import ROOT
from helpers import tiny_hf_checkpoint

from tfhub_kit.cli import main


def test_a_model_below_its_threshold_is_never_published(gcs, tmp_path, minilm_dir):
    from google.cloud import storage

    folder = tmp_path / "recipe"
    tiny_hf_checkpoint("bert", folder / "hf", minilm_dir / "vocab.txt")
    stsb = os.path.relpath(ROOT / "data" / "stsb" / "stsb-en-dev.csv", folder)
    recipe = {
        "model": {"publisher": "test", "name": "tiny_bert", "version": 1, "description": "A random tiny BERT."},
        "source": {"hf_folder": "hf"},
        "export": {"seq_length": 32},
        "evaluate": {"sts": [{"name": "stsb-en-dev", "path": stsb, "min_spearman": 50.0}], "speed": {"sentences": 64}},
    }
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    result = CliRunner().invoke(
        main, ["release", str(folder), "--to", "gs://models/hub", "--out", str(tmp_path / "build")]
    )
    assert result.exit_code == 1
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("Error: release stopped at evaluate: sts.stsb-en-dev.spearman is ")
    assert last.endswith("below the bar of 50.00. Nothing was published.")
    assert list(storage.Client().list_blobs("models")) == []
    assert not (tmp_path / "build" / "test" / "tiny_bert" / "1" / "dist").exists()
