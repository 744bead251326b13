"""Faults while the kit works: a diverging run, damaged checkpoints, a second writer, a full
disk, a port in use. Each ends in one `Error:` line with its documented exit code, keeps the
last good state, and leaves nothing half-written."""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import copy_build, tiny_train_recipe

from tfhub_kit.cli import main

FAILED, USAGE, ENVIRONMENT, BUILD = 1, 2, 3, 4
pytestmark = pytest.mark.slow


def _cli(args: list[str]) -> tuple[int, list[str], str]:
    result = CliRunner().invoke(main, args, catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"uncaught {type(result.exception).__name__}: {result.exception}")
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert "Traceback" not in result.output
    return result.exit_code, errors, result.stderr


def _files(folder: Path) -> dict[str, float]:
    return {p.relative_to(folder).as_posix(): p.stat().st_mtime for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, tiny_hf):
    """A tiny run trained to its end (12 steps, checkpoints at 4, 8 and 12)."""
    folder = tmp_path_factory.mktemp("finished")
    recipe = tiny_train_recipe(folder / "recipe", tiny_hf, steps=12, checkpoint_every=4, log_every=4)
    code, errors, _ = _cli(["train", str(recipe), "--out", str(folder / "build")])
    assert code == 0, errors
    (run,) = (folder / "build" / "test" / "tiny_trained" / "runs").glob("tiny_trained-*")
    return recipe, folder / "build", run


def _copy_run(finished_run, tmp_path: Path) -> tuple[Path, Path, Path]:
    import shutil

    recipe, out, run = finished_run
    shutil.copytree(out, tmp_path / "build")
    return recipe, tmp_path / "build", tmp_path / "build" / run.relative_to(out)


def test_a_diverging_run_stops_before_saving_and_names_step_and_objective(tmp_path, tiny_hf):
    """An STS objective weighted 1e38 overflows: the run stops with exit 1 at the first
    chunk, naming the step and the objective; no checkpoint holds the NaN weights."""
    import re

    import yaml

    recipe = tiny_train_recipe(tmp_path / "r", tiny_hf, steps=8, checkpoint_every=4, log_every=2)
    data = yaml.safe_load((recipe / "recipe.yaml").read_text())
    sts = data["train"]["objectives"][1]  # the tiny recipe's STS objective, alone, weighted 1e38
    sts["sts"]["weight"] = 1e38
    data["train"]["objectives"] = [sts]
    (recipe / "recipe.yaml").write_text(yaml.safe_dump(data))
    code, errors, _ = _cli(["train", str(recipe), "--out", str(tmp_path / "build")])
    assert code == FAILED and len(errors) == 1, errors
    assert re.search(r"training diverged at step [12]: the loss of sts \((nan|inf)\)", errors[0]), errors[0]
    assert "no checkpoint was written" in errors[0] and "lower learning rate" in errors[0]
    (run,) = [
        p for p in (tmp_path / "build" / "test" / "tiny_trained" / "runs").iterdir() if not p.name.endswith(".lock")
    ]
    assert not list((run / "ckpt").glob("ckpt-*")) if (run / "ckpt").exists() else True
    assert not (run / "train.json").exists()


def test_a_lost_or_garbled_state_file_resumes_from_the_checkpoints_on_disk(finished_run, tmp_path):
    recipe, out, run = _copy_run(finished_run, tmp_path)
    before = _files(run / "ckpt")
    for damage in ("delete", "garble"):
        state = run / "ckpt" / "checkpoint"
        if damage == "delete":
            state.unlink()
        else:
            state.write_text("model_checkpoint_path: \x00\x01 garbled {{{")
        code, errors, err = _cli(["train", str(recipe), "--out", str(out)])
        assert code == 0, errors
        assert "resuming from step 12" in err and "step 2/12" not in err
        after = _files(run / "ckpt")
        for name in ("ckpt-8.index", "ckpt-12.index", "ckpt-12.data-00000-of-00001"):
            assert after[name] == before[name], f"{name} was written again"


def test_a_damaged_newest_checkpoint_is_skipped_and_training_goes_on_from_the_one_before(finished_run, tmp_path):
    recipe, out, run = _copy_run(finished_run, tmp_path)
    data = run / "ckpt" / "ckpt-12.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])  # truncated
    (run / "ckpt" / "ckpt-12_temp").mkdir()  # and a save that never finished
    (run / "ckpt" / "ckpt-12_temp" / "part-00000").write_bytes(b"\0" * 1000)
    code, errors, err = _cli(["train", str(recipe), "--out", str(out)])
    assert code == 0, errors
    assert "skipping damaged checkpoint ckpt-12 (step 12)" in err
    assert "resuming from step 8" in err and "step 12/12" in err
    assert not (run / "ckpt" / "ckpt-12_temp").exists()
    summary = json.loads((run / "train.json").read_text())
    assert summary["resumed_from_step"] == 8


def test_when_no_checkpoint_restores_training_stops_instead_of_starting_over(finished_run, tmp_path):
    recipe, out, run = _copy_run(finished_run, tmp_path)
    for index in (run / "ckpt").glob("ckpt-*.index"):
        index.write_bytes(b"not an index")
    before = _files(run)
    code, errors, _ = _cli(["train", str(recipe), "--out", str(out)])
    assert code == FAILED and len(errors) == 1, errors
    assert "no checkpoint restores" in errors[0] and "--fresh" in errors[0]
    assert _files(run) == before  # nothing overwritten


def _hold_lock(folder: Path, what: str) -> subprocess.Popen:
    """Another process holding the writer lock of `folder` until it is killed."""
    code = (
        "import sys, time\n"
        "from tfhub_kit.locks import writer_lock\n"
        f"with writer_lock({str(folder)!r}, {what!r}):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(600)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_writer_of_a_run_or_a_build_stops_with_exit_3_naming_the_holder(finished_run, tiny_build, tmp_path):
    recipe, out, run = _copy_run(finished_run, tmp_path)
    holder = _hold_lock(run, "train")
    try:
        code, errors, _ = _cli(["train", str(recipe), "--out", str(out)])
        assert code == ENVIRONMENT and f"PID {holder.pid}, train" in errors[0], errors
    finally:
        holder.kill()
        holder.wait()
    build = copy_build(tiny_build, tmp_path / "builds")
    holder = _hold_lock(build.root, "export")
    try:
        before = _files(build.root)
        code, errors, _ = _cli(["package", str(build.root), "--force"])
        assert code == ENVIRONMENT and f"PID {holder.pid}, export" in errors[0], errors
        assert _files(build.root) == before and not build.dist.exists()
    finally:
        holder.kill()
        holder.wait()
    code, errors, _ = _cli(["package", str(build.root), "--force"])  # the holder is gone: the lock with it
    assert code == 0, errors


def test_two_packages_of_one_build_at_once_never_break_each_other(tiny_build, tmp_path):
    build = copy_build(tiny_build, tmp_path / "builds")
    cmd = [str(Path(sys.executable).parent / "tfhub-kit"), "package", str(build.root), "--force"]
    for _round in range(3):
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        results = [(p.wait(timeout=300), p.stderr.read() if p.stderr else "") for p in procs]
        for code, err in results:
            assert code in (0, ENVIRONMENT), err[-2000:]
            assert "unexpected" not in err
        assert any(code == 0 for code, _ in results)
        from tfhub_kit.package import read_checksums, verify_tarball

        sums = read_checksums(build.dist / "SHA256SUMS")
        for relative in sums:
            verify_tarball(build.dist / relative)
        assert not [p for p in build.root.parent.iterdir() if ".tmp-" in p.name]


def test_a_full_disk_while_packaging_is_exit_3_and_leaves_the_old_dist(tiny_build, tmp_path, monkeypatch):
    from tfhub_kit import package

    build = copy_build(tiny_build, tmp_path / "builds")
    code, errors, _ = _cli(["package", str(build.root), "--force"])
    assert code == 0, errors
    before = _files(build.dist)
    real = package.write_tarball
    calls = []

    def second_fails(saved_model: Path, dest: Path) -> None:
        calls.append(dest)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(dest))
        real(saved_model, dest)

    monkeypatch.setattr(package, "write_tarball", second_fails)
    code, errors, _ = _cli(["package", str(build.root), "--force"])
    assert code == ENVIRONMENT and len(errors) == 1, errors
    assert "no space left on the device" in errors[0] and str(calls[1]) in errors[0]
    assert _files(build.dist) == before  # all of the old dist/, none of the new
    assert not [p for p in build.root.iterdir() if ".tmp-" in p.name]


def test_a_full_disk_while_rendering_docs_is_exit_3(tiny_build, tmp_path, monkeypatch):
    build = copy_build(tiny_build, tmp_path / "builds")
    real = Path.write_text

    def full(self: Path, *args, **kwargs):
        if self.suffix == ".md":
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full)
    code, errors, _ = _cli(["docs", str(build.root), "--asset-base", "https://example.org/m"])
    assert code == ENVIRONMENT and "no space left on the device" in errors[0], errors
    assert not build.docs.exists() and not [p for p in build.root.iterdir() if ".tmp-" in p.name]


def test_serve_on_a_port_in_use_or_out_of_range_is_exit_3_naming_the_port(tiny_build, tmp_path):
    build = copy_build(tiny_build, tmp_path / "builds")
    assert _cli(["package", str(build.root), "--force"])[0] == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, errors, _ = _cli(["serve", str(build.root), "--port", str(port)])
        assert code == ENVIRONMENT and f"127.0.0.1:{port}" in errors[0] and "--port" in errors[0], errors
    code, errors, _ = _cli(["serve", str(build.root), "--port", "99999"])
    assert code == ENVIRONMENT and "127.0.0.1:99999: not a TCP port" in errors[0], errors


def test_a_python_teacher_runs_only_when_allowed(tmp_path, tiny_hf, monkeypatch):
    """A recipe naming `python:MODULE:FACTORY` is refused before the module is imported;
    --allow-code (or TFHUB_KIT_ALLOW_CODE=1) lets it through."""
    from tfhub_kit.errors import UsageError
    from tfhub_kit.recipe import load_recipe
    from tfhub_kit.train.run import check_code_allowed

    marker = tmp_path / "imported"
    (tmp_path / "mods").mkdir()
    (tmp_path / "mods" / "sneaky.py").write_text(f"open({str(marker)!r}, 'w').close()\nclass Model: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path / "mods"))
    objective = {"distill": {"teacher": "python:sneaky:Model", "sentences": [{"path": str(tiny_hf / "vocab.txt")}]}}
    recipe = tiny_train_recipe(tmp_path / "r", tiny_hf, objectives=[objective])
    code, errors, _ = _cli(["train", str(recipe), "--out", str(tmp_path / "build")])
    assert code == USAGE and "import module 'sneaky'" in errors[0] and "--allow-code" in errors[0], errors
    assert not marker.exists() and "sneaky" not in sys.modules
    loaded = load_recipe(recipe)
    check_code_allowed(loaded, allow_code=True)
    monkeypatch.setenv("TFHUB_KIT_ALLOW_CODE", "1")
    check_code_allowed(loaded, allow_code=False)
    monkeypatch.delenv("TFHUB_KIT_ALLOW_CODE")
    with pytest.raises(UsageError):
        check_code_allowed(loaded, allow_code=False)
    assert not marker.exists()


def test_copied_evaluation_data_keeps_its_permissions_and_an_outside_path_is_named(tiny_build, tmp_path):
    import shutil

    import yaml

    recipe_dir = tiny_build.root.parents[3]
    work = tmp_path / "recipe"
    shutil.copytree(recipe_dir / "hf", work / "hf")
    secret = tmp_path / "outside" / "dev.csv"
    secret.parent.mkdir()
    secret.write_text("A man plays.,A man sings.,2.0\nA dog runs.,A dog sprints.,4.5\n")
    secret.chmod(0o640)
    recipe = yaml.safe_load((recipe_dir / "recipe.yaml").read_text())
    recipe["evaluate"] = {"sts": [{"name": "dev", "path": os.path.relpath(secret, work)}]}
    (work / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    (work / ".git").mkdir()  # the recipe's repository: dev.csv lies outside it
    code, errors, _ = _cli(["export", str(work), "--out", str(tmp_path / "out")])
    assert code == 0, errors
    build = tmp_path / "out" / "test" / "tiny_bert" / "1"
    (copied,) = (build / "eval_data").iterdir()
    assert copied.stat().st_mode & 0o777 == 0o640
    manifest = json.loads((build / "manifest.json").read_text())
    assert manifest["evaluate"]["outside_repository"] == [str(secret)]


def test_evaluate_takes_a_build_given_as_a_short_relative_path(tiny_build, tmp_path, monkeypatch):
    build = copy_build(tiny_build, tmp_path / "builds")
    monkeypatch.chdir(build.root.parent)
    code, errors, _ = _cli(["evaluate", build.root.name])
    assert code == 0, errors
    assert (build.root / "results.json").is_file()


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (OSError(errno.ENOSPC, "No space left on device", "/data/run/ckpt-8.data"), "/data/run/ckpt-8.data: no space"),
        (OSError(errno.EROFS, "Read-only file system", "/ro/build"), "/ro/build: the file system is read-only"),
        (OSError(errno.EACCES, "Permission denied", "/root/x"), "/root/x: permission denied"),
        (RuntimeError("ckpt-8_temp/part-00000; No space left on device"), "no space left on the device"),
        (NotADirectoryError(errno.ENOTDIR, "Not a directory", "out/pub"), "out/pub: a file where a folder is needed"),
    ],
)
def test_the_machine_s_errors_are_environment_errors_naming_the_path(error, says):
    from tfhub_kit.errors import environment_error

    found = environment_error(error)
    expected = USAGE if isinstance(error, NotADirectoryError) else ENVIRONMENT
    assert found is not None and found.exit_code == expected and says in str(found)
    assert environment_error(ValueError("a bug")) is None
    assert environment_error(OSError(errno.ENOENT, "No such file")) is None
