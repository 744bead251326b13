"""Bad input, tried as a user would: every command, one table.

Each case builds a small workspace (a recipe over the tiny BERT checkpoint, a copy of its
build), breaks one thing, runs the command and asserts the exit code of README's table, one
`Error:` line naming the thing, no traceback, and a workspace left as it was.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from tfhub_kit.cli import main

OK, FAILED, USAGE, ENVIRONMENT, BUILD = 0, 1, 2, 3, 4


@dataclass(frozen=True)
class Case:
    id: str
    args: list[str]
    """The command line; RECIPE, BUILD and WORK stand for the workspace's paths."""
    break_it: Callable[[Path], None]
    code: int
    says: str
    """A piece of the error line (it names the thing)."""
    env: dict[str, str] = field(default_factory=dict)


# --- ways to break a workspace ---------------------------------------------------------


def edit(relative: str, change: Callable[[dict], None]) -> Callable[[Path], None]:
    """Load a YAML (recipe) or JSON (manifest) file of the workspace, change it, save it."""
    load, dump = (yaml.safe_load, yaml.safe_dump) if relative.endswith(".yaml") else (json.loads, json.dumps)

    def apply(work: Path) -> None:
        file = work / relative
        data = load(file.read_text())
        change(data)
        file.write_text(dump(data))

    return apply


def recipe_edit(change: Callable[[dict], None]) -> Callable[[Path], None]:
    return edit("recipe/recipe.yaml", change)


def manifest_edit(change: Callable[[dict], None]) -> Callable[[Path], None]:
    return edit("build/manifest.json", change)


def write(relative: str, content: str | bytes) -> Callable[[Path], None]:
    def apply(work: Path) -> None:
        path = work / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)

    return apply


def remove(relative: str) -> Callable[[Path], None]:
    def apply(work: Path) -> None:
        path = work / relative
        shutil.rmtree(path) if path.is_dir() else path.unlink()

    return apply


def both(*steps: Callable[[Path], None]) -> Callable[[Path], None]:
    def apply(work: Path) -> None:
        for step in steps:
            step(work)

    return apply


def nothing(_work: Path) -> None:
    return None


def package_it(work: Path) -> None:
    from tfhub_kit.package import package_build

    package_build(work / "build")


def _set(path: str, value) -> Callable[[dict], None]:
    def change(data: dict) -> None:
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value

    return change


def _drop(path: str) -> Callable[[dict], None]:
    def change(data: dict) -> None:
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node[key]
        del node[last]

    return change


STS_ROWS = "".join(f"A man plays {i}.,A man sings {i}.,{i % 5}.0\n" for i in range(20))


def sts_set(content: str, *, sha256: str | None = None) -> Callable[[Path], None]:
    """Give the build an STS set in eval_data/ (as export copies it), recorded with `sha256`
    (default: the content's own)."""

    def apply(work: Path) -> None:

        (work / "build" / "eval_data").mkdir(exist_ok=True)
        (work / "build" / "eval_data" / "sts.csv").write_text(content)
        digest = sha256 or hashlib.sha256(content.encode()).hexdigest()
        item = {"name": "dev", "path": "eval_data/sts.csv", "format": "stsb_csv", "sha256": digest}
        manifest_edit(lambda m: m["evaluate"].update(sts=[item]))(work)

    return apply


CHECK = ["recipe", "check", "RECIPE"]
EXPORT = ["export", "RECIPE", "--out", "WORK/out"]


def alias_bomb(levels: int) -> str:
    """A "billion laughs" recipe: in docs.references, each level repeats the one before ten times."""
    chain = ["&a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    chain += [f"&a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, levels)]
    model = "model: {publisher: acme, name: m, version: 1, description: d}\nsource: {hf_folder: hf}"
    return f"{model}\ndocs:\n  references: [{', '.join(chain)}]\n"


LATIN1_STS = "A cafe.,A coffee shop.,4.0\nA caf\xe9.,Un caf\xe9.,5.0\n".encode("latin-1")


def with_link(kind: str, relative: str) -> Callable[[Path], None]:
    """Put a hard or symbolic link, or a FIFO, at `relative` in the workspace's build."""

    def apply(work: Path) -> None:
        outside = work / "outside.txt"
        outside.write_text("not part of the build")
        path = work / relative
        if kind == "hard":
            os.link(outside, path)
        elif kind == "symbolic":
            path.symlink_to(outside)
        else:
            os.mkfifo(path)

    return apply


def replace_tarball(how: str) -> Callable[[Path], None]:
    """Package the build, then change its encoder tarball behind SHA256SUMS' back."""

    def apply(work: Path) -> None:
        package_it(work)
        tarball = work / "build/dist/test/tiny_bert_encoder/1.tar.gz"
        if how == "symlink":
            tarball.unlink()
            tarball.symlink_to(work / "build/dist/test/tiny_bert_preprocess/1.tar.gz")
        else:
            with tarball.open("ab") as f:
                f.write(b"\0")

    return apply


def nan_weights(work: Path) -> None:
    """A NaN in the source checkpoint's first weight matrix."""
    from safetensors.numpy import load_file, save_file

    path = work / "recipe/hf/model.safetensors"
    tensors = load_file(path)
    name = next(k for k, v in tensors.items() if v.ndim == 2)
    tensors[name][0, 0] = float("nan")
    save_file(tensors, path)


def symlink_loop(work: Path) -> None:
    (work / "recipe/a.csv").symlink_to(work / "recipe/b.csv")
    (work / "recipe/b.csv").symlink_to(work / "recipe/a.csv")
    recipe_edit(_set("evaluate.sts", [{"name": "dev", "path": "a.csv"}]))(work)


def python_teacher(work: Path) -> None:
    objective = {"distill": {"teacher": "python:os:abort", "sentences": [{"path": "hf/vocab.txt"}]}}
    recipe_edit(_set("train", {"steps": 2, "global_batch_size": 2, "objectives": [objective]}))(work)


CASES = [
    # --- recipes (2) ---
    Case("recipe-folder-missing", ["recipe", "check", "WORK/nowhere"], nothing, USAGE, "recipe.yaml"),
    Case("recipe-not-yaml", CHECK, write("recipe/recipe.yaml", "model: [unclosed"), USAGE, "not valid YAML"),
    Case("recipe-a-list", CHECK, write("recipe/recipe.yaml", "- model\n"), USAGE, "must be a mapping"),
    Case("recipe-unknown-section", CHECK, recipe_edit(_set("extras", {"a": 1})), USAGE, "extras"),
    Case("recipe-unknown-field", CHECK, recipe_edit(_set("model.colour", "red")), USAGE, "model.colour"),
    Case("recipe-version-zero", CHECK, recipe_edit(_set("model.version", 0)), USAGE, "model.version"),
    Case("recipe-publisher-case", CHECK, recipe_edit(_set("model.publisher", "Acme")), USAGE, "model.publisher"),
    Case("recipe-no-name", CHECK, recipe_edit(_drop("model.name")), USAGE, "model.name"),
    Case("source-folder-missing", CHECK, recipe_edit(_set("source.hf_folder", "gone")), USAGE, "source.hf_folder"),
    Case("source-config-not-json", CHECK, write("recipe/hf/config.json", "{"), USAGE, "config.json"),
    Case(
        "source-model-type",
        CHECK,
        write("recipe/hf/config.json", json.dumps({"model_type": "gpt2"})),
        USAGE,
        "model_type",
    ),
    Case("seq-length-small", CHECK, recipe_edit(_set("export.seq_length", 4)), USAGE, "export.seq_length"),
    Case("saved-models-empty", CHECK, recipe_edit(_set("export.saved_models", [])), USAGE, "export.saved_models"),
    Case(
        "saved-models-preset-only",
        CHECK,
        recipe_edit(_set("export.saved_models", ["keras_preset"])),
        USAGE,
        "export.saved_models",
    ),
    Case(
        "saved-models-unknown",
        CHECK,
        recipe_edit(_set("export.saved_models", ["onnx"])),
        USAGE,
        "export.saved_models[0]",
    ),
    Case(
        "sts-file-missing",
        CHECK,
        recipe_edit(_set("evaluate.sts", [{"name": "dev", "path": "missing.csv"}])),
        USAGE,
        "evaluate.sts[0].path",
    ),
    Case(
        "sts-format",
        CHECK,
        recipe_edit(_set("evaluate.sts", [{"name": "dev", "path": "hf/vocab.txt", "format": "xlsx"}])),
        USAGE,
        "evaluate.sts[0].format",
    ),
    Case(
        "prune-layers-order",
        CHECK,
        recipe_edit(_set("transforms", [{"prune_layers": {"keep": [1, 0]}}])),
        USAGE,
        "prune_layers.keep",
    ),
    Case(
        "train-strategy",
        CHECK,
        recipe_edit(
            _set(
                "train",
                {
                    "strategy": "gpu-farm",
                    "objectives": [{"distill": {"teacher": "source", "sentences": [{"path": "hf/vocab.txt"}]}}],
                },
            )
        ),
        USAGE,
        "train.strategy",
    ),
    Case("publish-gcs-url", CHECK, recipe_edit(_set("publish.gcs", "s3://bucket")), USAGE, "publish.gcs"),
    Case("docs-templates-missing", CHECK, recipe_edit(_set("docs.templates", "mine")), USAGE, "docs.templates"),
    Case(
        "reference-models-handle",
        CHECK,
        recipe_edit(_set("evaluate.reference_models", ["not a handle"])),
        USAGE,
        "evaluate.reference_models",
    ),
    # --- usage (2) ---
    Case("export-no-argument", ["export"], nothing, USAGE, "Missing argument"),
    Case("publish-bad-scheme", ["publish", "BUILD", "--to", "ftp://x/y"], nothing, USAGE, "--to"),
    Case(
        "publish-bad-kaggle-handle",
        ["publish", "BUILD", "--to", "kaggle://Acme/m/keras/v", "--force"],
        nothing,
        USAGE,
        "not a Kaggle model location",
    ),
    # --- builds (4) ---
    Case("build-without-manifest", ["validate", "BUILD"], remove("build/manifest.json"), BUILD, "manifest.json"),
    Case("manifest-not-json", ["evaluate", "BUILD"], write("build/manifest.json", "{"), BUILD, "manifest.json"),
    Case("manifest-a-list", ["docs", "BUILD"], write("build/manifest.json", "[]"), BUILD, "manifest"),
    Case(
        "manifest-old-format",
        ["package", "BUILD", "--force"],
        manifest_edit(_set("format", 1)),
        BUILD,
        "manifest format 1",
    ),
    Case(
        "manifest-lacks-fields",
        ["validate", "BUILD"],
        manifest_edit(_drop("saved_models")),
        BUILD,
        "lacks saved_models",
    ),
    Case(
        "saved-model-missing",
        ["validate", "BUILD", "--no-consumers"],
        remove("build/encoder/saved_model.pb"),
        BUILD,
        "encoder",
    ),
    Case(
        "saved-model-corrupt",
        ["evaluate", "BUILD"],
        write("build/embedding/saved_model.pb", b"not a protobuf"),
        BUILD,
        "embedding",
    ),
    Case(
        "eval-data-missing",
        ["evaluate", "BUILD"],
        both(sts_set(STS_ROWS), remove("build/eval_data/sts.csv")),
        BUILD,
        "eval_data/sts.csv: evaluation data named by the manifest is missing",
    ),
    Case(
        "eval-data-changed",
        ["evaluate", "BUILD"],
        sts_set(STS_ROWS, sha256="0" * 64),
        BUILD,
        "eval_data/sts.csv changed since export",
    ),
    Case(
        "eval-data-malformed",
        ["evaluate", "BUILD"],
        sts_set(STS_ROWS + "only one column\n"),
        USAGE,
        "line 21",
    ),
    Case(
        "reference-model-not-evaluated",
        ["evaluate", "BUILD"],
        manifest_edit(lambda m: m["evaluate"].update(reference_models=["test/other/1"])),
        BUILD,
        "test/other/1/results.json is missing",
    ),
    Case(
        "results-not-json",
        ["docs", "BUILD", "--asset-base", "https://example.org/m"],
        write("build/results.json", "{"),
        BUILD,
        "results.json",
    ),
    Case(
        "validation-not-json",
        ["package", "BUILD"],
        write("build/validation.json", "[1, 2"),
        FAILED,
        "validation.json",
    ),
    # --- checks and gates (1) ---
    Case("package-unvalidated", ["package", "BUILD"], nothing, FAILED, "no validation.json"),
    Case(
        "docs-check-broken",
        ["docs", "--check", "WORK/docs"],
        write("docs/assets/docs/acme/acme.md", "# Publisher acme\nAcme.\n## Acme\nStray.\n"),
        FAILED,
        "problems in",
    ),
    # --- the environment (3) ---
    Case(
        "gcs-no-credentials",
        ["publish", "BUILD", "--to", "gs://models/hub", "--force"],
        package_it,
        ENVIRONMENT,
        "credentials",
        env={"GOOGLE_APPLICATION_CREDENTIALS": "WORK/missing-key.json", "STORAGE_EMULATOR_HOST": ""},
    ),
    Case(
        "gcs-unreachable",
        ["publish", "BUILD", "--to", "gs://models/hub", "--force", "--retry-deadline", "1"],
        package_it,
        ENVIRONMENT,
        "cannot reach",
        env={"STORAGE_EMULATOR_HOST": "http://127.0.0.1:9"},
    ),
    Case(
        "kaggle-not-installed",
        ["publish", "BUILD", "--to", "kaggle://acme/tiny-bert/tensorFlow2/default", "--force"],
        write("build/docs/kaggle/tiny_bert.md", "# tiny_bert\n"),
        ENVIRONMENT,
        "needs kagglehub",
        env={"HIDE_MODULE": "kagglehub"},
    ),
    Case(
        "consumer-timeout",
        ["validate", "BUILD"],
        nothing,
        FAILED,
        "timed out after 0.5 s",
        env={"TFHUB_KIT_CONSUMER_TIMEOUT": "0.5"},
    ),
    Case(
        "tarball-missing",
        ["publish", "BUILD", "--to", "gs://models/hub", "--force", "--dry-run"],
        nothing,
        BUILD,
        "run `tfhub-kit package",
    ),
    # --- faults of the kind a careful user meets (recipes, data, builds that would ship wrong) ---
    Case(
        "export-out-is-a-file",
        [*EXPORT[:2], "--out", "WORK/afile"],
        write("afile", "x"),
        USAGE,
        "a file where a folder",
    ),
    Case("recipe-alias-bomb", CHECK, write("recipe/recipe.yaml", alias_bomb(12)), USAGE, "more than 100 aliases"),
    # under the alias budget, still 10^9 strings once expanded: refused on its first wrong value, briefly
    Case("recipe-alias-nest", CHECK, write("recipe/recipe.yaml", alias_bomb(9)), USAGE, "docs.references[0]"),
    Case("recipe-too-large", CHECK, write("recipe/recipe.yaml", "# padding\n" * 200_000), USAGE, "bytes"),
    Case("data-symlink-loop", CHECK, symlink_loop, USAGE, "evaluate.sts[0].path"),
    Case(
        "eval-data-not-utf8",
        EXPORT,
        both(
            write("recipe/dev.csv", LATIN1_STS), recipe_edit(_set("evaluate.sts", [{"name": "dev", "path": "dev.csv"}]))
        ),
        USAGE,
        "dev.csv line 2: byte 0xe9",
    ),
    Case("export-nan-weights", EXPORT, nan_weights, BUILD, "hold NaN or Inf"),
    Case("python-teacher-not-allowed", ["train", "RECIPE"], python_teacher, USAGE, "--allow-code"),
    Case(
        "package-hard-link",
        ["package", "BUILD", "--force"],
        with_link("hard", "build/assets.txt"),
        BUILD,
        "a hard link",
    ),
    Case(
        "package-symlink",
        ["package", "BUILD", "--force"],
        with_link("symbolic", "build/encoder/assets/extra.txt"),
        BUILD,
        "a symbolic link",
    ),
    Case("package-fifo", ["package", "BUILD", "--force"], with_link("fifo", "build/pipe"), BUILD, "FIFO"),
    Case(
        "publish-tarball-symlink",
        ["publish", "BUILD", "--to", "gs://models/hub", "--force", "--dry-run"],
        replace_tarball("symlink"),
        BUILD,
        "not a regular file",
    ),
    Case(
        "publish-tarball-changed",
        ["publish", "BUILD", "--to", "gs://models/hub", "--force", "--dry-run"],
        replace_tarball("append"),
        BUILD,
        "SHA256SUMS",
    ),
    Case(
        "vocab-learn-size",
        ["vocab", "learn", "RECIPE/hf/vocab.txt", "--size", "0", "--out", "WORK/v.txt"],
        nothing,
        USAGE,
        "size",
    ),
]


# --- the runner ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pristine(tiny_build, tmp_path_factory) -> Path:
    """A workspace: recipe/ (recipe.yaml + hf/ of the tiny BERT) and build/ (its export)."""
    base = tmp_path_factory.mktemp("pristine")
    recipe_dir = tiny_build.root.parents[3]
    shutil.copytree(recipe_dir / "hf", base / "recipe" / "hf")
    shutil.copy(recipe_dir / "recipe.yaml", base / "recipe" / "recipe.yaml")
    shutil.copytree(tiny_build.root, base / "build", ignore=shutil.ignore_patterns("docs", "dist", "*.json.tmp*"))
    for report in ("validation.json", "results.json"):
        (base / "build" / report).unlink(missing_ok=True)
    return base


def snapshot(root: Path) -> dict[str, str]:
    """Every file under `root` with its content hash: what a failed command must not touch."""

    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink() and not p.name.endswith(".lock")  # a writer's lock holds no content
    }


def run_cli(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    runner = CliRunner()
    result = runner.invoke(main, args, env=env, catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"uncaught {type(result.exception).__name__}: {result.exception}")
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gives_its_exit_code_and_one_clear_line(case: Case, pristine, tmp_path, monkeypatch):
    work = tmp_path / "work"
    shutil.copytree(pristine, work, symlinks=True)
    case.break_it(work)
    for name, value in case.env.items():
        if name == "HIDE_MODULE":
            monkeypatch.setitem(sys.modules, value, None)  # as if not installed
    env = {k: v.replace("WORK", str(work)) for k, v in case.env.items() if k != "HIDE_MODULE"}
    env.setdefault("NO_GCE_CHECK", "True")  # no metadata-server probing for credentials
    if env.get("STORAGE_EMULATOR_HOST") == "":
        monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
        del env["STORAGE_EMULATOR_HOST"]
    before = snapshot(work)
    paths = {"RECIPE": str(work / "recipe"), "BUILD": str(work / "build"), "WORK": str(work)}
    args = [paths.get(a, a) for a in case.args]
    args = [a.replace("WORK/", f"{work}/").replace("RECIPE/", f"{work}/recipe/") for a in args]
    code, out, err = run_cli(args, env)
    errors = [line for line in err.splitlines() if line.startswith("Error:")]
    assert code == case.code, f"exit {code}, expected {case.code}\nstdout: {out[-2000:]}\nstderr: {err[-2000:]}"
    assert len(errors) == 1, f"expected one Error: line, got {errors}\nstderr: {err[-2000:]}"
    assert case.says in errors[0], errors[0]
    assert "Traceback" not in out + err
    after = snapshot(work)
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    allowed = {"build/validation.json"} if case.args[0] == "validate" else set()
    assert set(changed) <= allowed, f"files changed by a failed command: {changed}"


# --- interruption ----------------------------------------------------------------------


def _dead_pid() -> int:
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], check=True, capture_output=True, text=True
    )
    return int(proc.stdout)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


def test_killed_exports_and_a_crash_between_renames_are_cleaned_up(pristine, tmp_path):
    """A crash between the two renames of a swap (old build parked, new one not yet in
    place), then an export killed by SIGKILL while writing: the next export restores, cleans
    and finishes; the old build is never lost."""
    work = tmp_path / "work"
    shutil.copytree(pristine, work)
    out = work / "out"
    recipe = work / "recipe"
    build = out / "test" / "tiny_bert" / "1"
    shutil.copytree(work / "build", build)  # the export of this recipe
    original = snapshot(build)
    dead = _dead_pid()
    build.rename(build.with_name(f".1.old-{dead}"))  # crashed after parking the old build
    (build.with_name(f".1.tmp-{dead}")).mkdir()  # ... and its half-written new one

    env = {k: v for k, v in os.environ.items() if k not in ("TF_USE_LEGACY_KERAS", "KERAS_BACKEND")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from tfhub_kit.cli import main; main()",
            "export",
            str(recipe),
            "--out",
            str(out),
            "--fresh",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    staging = build.with_name(f".1.tmp-{proc.pid}")
    deadline = time.monotonic() + 300
    while not staging.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert staging.exists(), f"export never started staging: {proc.stderr.read()[-2000:] if proc.poll() else ''}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert snapshot(build) == original  # the killed run had put the parked build back first
    assert _leftovers(build.parent) == [staging.name]

    code, _, err = run_cli(["export", str(recipe), "--out", str(out)], {})
    assert code == 0, err
    assert f"removed {staging.name} left by an interrupted run" in err
    assert _leftovers(build.parent) == []
    assert "up to date" in err and snapshot(build) == original


def test_killed_docs_and_stale_tarballs_are_cleaned_on_the_next_run(pristine, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(pristine, work)
    build = work / "build"
    dead = _dead_pid()
    (build / f".docs.tmp-{dead}" / "assets").mkdir(parents=True)
    (build / f".docs.old-{dead}").mkdir()
    code, _, err = run_cli(["docs", str(build), "--asset-base", "https://example.org/m"], {})
    assert code == 0, err
    assert _leftovers(build) == [] and (build / "docs" / "assets").is_dir()

    stale = build / "dist" / "test" / "tiny_bert_old" / "1.tar.gz"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"an older build's tarball")
    code, _, err = run_cli(["package", str(build), "--force"], {})
    assert code == 0, err
    assert not stale.exists() and "removing stale dist/test/tiny_bert_old/1.tar.gz" in err


def test_an_unchanged_export_reuses_the_build_and_a_changed_input_does_not(pristine, tmp_path):
    from tfhub_kit.export import export_inputs
    from tfhub_kit.recipe import load_recipe

    work = tmp_path / "work"
    shutil.copytree(pristine, work)
    recipe, out = work / "recipe", work / "out"
    build = out / "test" / "tiny_bert" / "1"
    shutil.copytree(work / "build", build)  # exported from these very inputs (same files, same hashes)
    before = snapshot(build)

    code, _, err = run_cli(["export", str(recipe), "--out", str(out)], {})
    assert code == 0 and "up to date" in err and snapshot(build) == before

    recorded = json.loads((build / "manifest.json").read_text())["inputs"]
    assert export_inputs(load_recipe(recipe), out_dir=out) == recorded
    (recipe / "hf" / "vocab.txt").write_text((recipe / "hf" / "vocab.txt").read_text() + "\n")  # a source file
    changed = export_inputs(load_recipe(recipe), out_dir=out)
    assert changed["sha256"] != recorded["sha256"]
    assert [k for k in recorded["files"] if recorded["files"][k] != changed["files"][k]] == ["source/vocab.txt"]
