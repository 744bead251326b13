"""`tfhub-kit validate` on the real sample build, as a user runs it."""

from __future__ import annotations

import json
import shutil

from click.testing import CliRunner

from tfhub_kit.cli import main


def test_sample_build_validates(minilm_build):
    result = CliRunner().invoke(main, ["validate", str(minilm_build.root)])
    assert result.exit_code == 0, result.output
    saved = json.loads((minilm_build.root / "validation.json").read_text())
    assert saved["ok"] is True and saved["failed"] == 0
    checks = {(r["saved_model"], r["check"]) for r in saved["results"]}
    for kind in ("encoder", "preprocess", "embedding"):
        for consumer in ("hub.load", "hub.KerasLayer", "TFSMLayer"):
            assert (kind, f"consumer:{consumer}") in checks
    for check in ("reusable_api", "gradient", "deterministic", "finite", "probes", "signature"):
        assert ("encoder", check) in checks and ("embedding", check) in checks
    for check in ("tokenize", "special_tokens", "bert_pack_inputs", "no_variables", "vocab_range", "assets"):
        assert ("preprocess", check) in checks
    assert f"{saved['checks']} passed, 0 failed" in result.output


def test_broken_build_fails_with_a_named_check(tiny_build, tmp_path):
    broken = tmp_path / "build"
    shutil.copytree(tiny_build.root, broken)
    (broken / "preprocess" / "assets" / "vocab.txt").unlink()
    result = CliRunner().invoke(main, ["validate", str(broken), "--no-consumers"])
    assert result.exit_code == 1
    line = next(x for x in result.output.splitlines() if x.startswith("preprocess") and " assets " in x)
    assert (
        "FAIL" in line
        and "expected asset files ['vocab.txt'] under preprocess/assets/; found missing: ['vocab.txt']" in line
    )
