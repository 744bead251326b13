"""The CLI: an example in every --help, and `export` end to end."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest import SAMPLE_RECIPE

from tfhub_kit.cli import main


@pytest.mark.parametrize("args", [[], ["recipe"], ["recipe", "check"], ["export"]])
def test_every_help_has_an_example(args):
    result = CliRunner().invoke(main, [*args, "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output and "tfhub-kit " in result.output


def test_export_command_writes_build_and_reports_progress(tmp_path):
    result = CliRunner().invoke(main, ["export", str(SAMPLE_RECIPE), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    root = tmp_path / "tfhub-kit" / "all_minilm_l6_v2" / "1"
    assert f"{root}/encoder" in result.output and f"{root}/manifest.json" in result.output
    assert "[tfhub-kit] saving embedding/" in result.output  # progress goes to stderr
    assert json.loads((root / "manifest.json").read_text())["handle"] == "tfhub-kit/all_minilm_l6_v2/1"
