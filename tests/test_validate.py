"""`tfhub-kit validate` on the real sample build, as a user runs it."""

from __future__ import annotations

import json
import shutil

from click.testing import CliRunner
from helpers import copy_build

from tfhub_kit.cli import main


def test_sample_build_validates(minilm_build, tmp_path):
    minilm_build = copy_build(minilm_build, tmp_path)
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


def test_a_check_that_crashes_in_kit_code_is_not_blamed_on_the_model(tiny_build, monkeypatch):
    """A bug in a check stops validate with exit code 5 (a kit bug) and names the check as a kit bug;
    the model is not reported as failing it, and no validation.json is written."""
    from tfhub_kit import validate

    def buggy(kind, ctx):
        """a check with a bug"""
        return {}["missing key"]

    before = (
        (tiny_build.root / "validation.json").read_bytes() if (tiny_build.root / "validation.json").exists() else None
    )
    checks = {kind: [("buggy", buggy), *rest] for kind, rest in validate._CHECKS.items()}
    monkeypatch.setattr(validate, "_CHECKS", checks)
    result = CliRunner().invoke(main, ["validate", str(tiny_build.root), "--no-consumers"])
    assert result.exit_code == 5
    assert "check 'buggy'" in result.output and "tfhub-kit bug" in result.output and "KeyError" in result.output
    assert "FAIL" not in result.output
    after = (
        (tiny_build.root / "validation.json").read_bytes() if (tiny_build.root / "validation.json").exists() else None
    )
    assert after == before


def test_an_error_raised_by_the_model_is_a_failed_check(tiny_build, tmp_path, monkeypatch):
    """What the model raises (here: TensorFlow refusing the wrong input dtype) is a verdict."""
    import tensorflow as tf

    from tfhub_kit import validate

    def wrong_dtype(kind, ctx):
        """the encoder takes int32 inputs"""
        ctx.model("encoder")({k: tf.cast(v, tf.float32) for k, v in ctx.encoder_inputs().items()})

    checks = {kind: [] for kind in validate._CHECKS} | {"encoder": [*validate._COMMON, ("wrong_dtype", wrong_dtype)]}
    monkeypatch.setattr(validate, "_CHECKS", checks)
    build = tmp_path / "build"
    shutil.copytree(tiny_build.root, build)
    report = validate.validate_build(build, consumers=False)
    (failure,) = report.failures
    assert failure.check == "wrong_dtype" and failure.found.split(":")[0] in ("ValueError", "TypeError")
