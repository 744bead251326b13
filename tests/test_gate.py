"""`package` and `publish` hold the release gate outside `release`: no passing, current
validation.json or a missed recipe threshold means exit 1 and a line saying what to run;
`--force` ships with a warning."""

from __future__ import annotations

import json
import os
import shutil

from click.testing import CliRunner

from tfhub_kit.cli import main


def _copy(tiny_build, tmp_path):
    root = tmp_path / "build"
    shutil.copytree(tiny_build.root, root)
    for name in ("validation.json", "results.json"):
        (root / name).unlink(missing_ok=True)
    shutil.rmtree(root / "dist", ignore_errors=True)
    return root


def _package(root, *extra):
    return CliRunner().invoke(main, ["package", str(root), *extra])


def test_package_refuses_an_unvalidated_build_and_force_ships_it(tiny_build, tmp_path):
    root = _copy(tiny_build, tmp_path)
    result = _package(root)
    assert result.exit_code == 1
    assert "no validation.json: run `tfhub-kit validate" in result.stderr and "--force" in result.stderr
    assert not (root / "dist").exists()

    forced = _package(root, "--force")
    assert forced.exit_code == 0, forced.stderr
    assert "WARNING (--force): no validation.json" in forced.stderr
    assert (root / "dist").is_dir()


def test_failed_stale_and_below_threshold_builds_are_refused(tiny_build, tmp_path):
    from tfhub_kit.gate import gate_problems
    from tfhub_kit.validate import validate_build

    root = _copy(tiny_build, tmp_path)
    assert validate_build(root, consumers=False).ok
    assert gate_problems(root) == []

    report = json.loads((root / "validation.json").read_text())
    (root / "validation.json").write_text(json.dumps({**report, "ok": False, "failed": 2}))
    assert gate_problems(root) == [
        f"validation.json has 2 failed checks: fix them, then run `tfhub-kit validate {root}`"
    ]
    (root / "validation.json").write_text(json.dumps(report))
    stamp = (root / "validation.json").stat().st_mtime
    os.utime(root / "encoder" / "saved_model.pb", (stamp + 10, stamp + 10))  # re-exported after validate
    assert gate_problems(root) == [
        f"validation.json is older than the SavedModels: run `tfhub-kit validate {root}` again"
    ]
    os.utime(root / "validation.json", (stamp + 20, stamp + 20))

    gates = [{"metric": "sts.stsb-en-dev.spearman", "value": 80.0, "threshold": 85.0, "passed": False}]
    (root / "results.json").write_text(json.dumps({"gates": gates, "ok": False}))
    result = CliRunner().invoke(main, ["publish", str(root), "--to", "gs://models/hub", "--dry-run"])
    assert result.exit_code == 1
    assert "sts.stsb-en-dev.spearman is 80.00, below the bar of 85.00" in result.stderr

    (root / "results.json").write_text("{truncated")  # a corrupt report is no pass either
    assert gate_problems(root) == [f"results.json is not a JSON object: run `tfhub-kit evaluate {root}` again"]
