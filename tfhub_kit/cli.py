"""The `tfhub-kit` command line: a thin click layer over the library.

Each command parses options, calls one library function and prints its result. Errors the
kit raises on purpose become one line on stderr (exit 2 for a bad recipe, 1 otherwise);
set TFHUB_KIT_DEBUG=1 to see the traceback instead.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from tfhub_kit import __version__
from tfhub_kit.errors import RecipeError, TfhubKitError


def _quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def _progress(message: str) -> None:
    click.echo(f"[tfhub-kit] {message}", err=True)


def _handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except TfhubKitError as exc:
            if os.environ.get("TFHUB_KIT_DEBUG"):
                raise
            click.echo(f"Error: {exc}", err=True)
            sys.exit(2 if isinstance(exc, RecipeError) else 1)

    return wrapper


@click.group()
@click.version_option(__version__, prog_name="tfhub-kit")
def main() -> None:
    """Turn text encoders into published TensorFlow Hub models.

    \b
    Example:
      tfhub-kit recipe check models/tfhub-kit/all_minilm_l6_v2
      tfhub-kit export models/tfhub-kit/all_minilm_l6_v2 --out build
    """
    _quiet_tensorflow()


@main.group()
def recipe() -> None:
    """Inspect recipe folders.

    \b
    Example:
      tfhub-kit recipe check models/tfhub-kit/all_minilm_l6_v2
    """


@recipe.command("check")
@click.argument("recipe_dir", type=click.Path(file_okay=True, dir_okay=True))
@_handle_errors
def recipe_check(recipe_dir: str) -> None:
    """Validate RECIPE_DIR/recipe.yaml and the checkpoint it names, without loading weights.

    \b
    Example:
      tfhub-kit recipe check models/tfhub-kit/all_minilm_l6_v2
    """
    from tfhub_kit.networks import inspect_hf_folder
    from tfhub_kit.recipe import load_recipe

    loaded = load_recipe(recipe_dir)
    source = inspect_hf_folder(loaded.source_dir)
    click.echo(
        f"ok: {loaded.handle} ({source.architecture.model_type} from {source.folder}; "
        f"exports {', '.join(loaded.export.saved_models)}; seq_length {loaded.export.seq_length})"
    )


@main.command()
@click.argument("recipe_dir", type=click.Path(file_okay=True, dir_okay=True))
@click.option("--out", "out_dir", default="build", show_default=True, type=click.Path(), help="Build root.")
@_handle_errors
def export(recipe_dir: str, out_dir: str) -> None:
    """Convert the recipe's checkpoint and write TF Hub SavedModels + manifest.json.

    Writes OUT/<publisher>/<model>/<version>/ atomically (a previous build there is replaced).

    \b
    Example:
      tfhub-kit export models/tfhub-kit/all_minilm_l6_v2 --out build
    """
    from tfhub_kit.export import export_recipe

    result = export_recipe(recipe_dir, out_dir=out_dir, progress=_progress)
    for kind, info in result.manifest["saved_models"].items():
        click.echo(f"{result.layout.saved_model(kind)}  ({info['bytes'] / 1e6:.1f} MB)")
    click.echo(str(result.layout.manifest_file))


@main.command()
@click.argument("build_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--tolerance", type=float, default=None, help="Max abs difference allowed on the probe outputs.")
@click.option("--no-consumers", is_flag=True, help="Skip the clean-subprocess load checks.")
@_handle_errors
def validate(build_dir: str, tolerance: float | None, no_consumers: bool) -> None:
    """Check a build's SavedModels against TF Hub's contracts; write validation.json.

    Exits 1 if any check fails; each failure names the SavedModel, the check, what was
    expected and what was found. The tolerance defaults to the recipe's validate.tolerance.

    \b
    Example:
      tfhub-kit validate build/tfhub-kit/all_minilm_l6_v2/1
    """
    from tfhub_kit.validate import validate_build

    report = validate_build(build_dir, tolerance=tolerance, consumers=not no_consumers, progress=_progress)
    width = max(len(r.check) for r in report.results)
    for r in report.results:
        status = "pass" if r.passed else "FAIL"
        detail = "" if r.passed else f"  expected {r.expected}; found {r.found}"
        click.echo(f"{r.saved_model:<11} {r.check:<{width}}  {status}  {r.seconds:5.1f}s{detail}")
    passed = len(report.results) - len(report.failures)
    click.echo(f"{passed} passed, {len(report.failures)} failed  ({report.build_dir}/validation.json)")
    if not report.ok:
        sys.exit(1)


@main.command()
@click.argument("build_dir", type=click.Path(exists=True, file_okay=False))
@_handle_errors
def evaluate(build_dir: str) -> None:
    """Measure STS, bitext retrieval, speed and size; write results.json.

    Exits 1 if a figure misses a threshold from the recipe's evaluate section, naming the
    figure and the bar.

    \b
    Example:
      tfhub-kit evaluate build/tfhub-kit/all_minilm_l6_v2/1
    """
    from tfhub_kit.evaluate import evaluate_build

    report = evaluate_build(build_dir, progress=_progress)
    res = report.results
    for name, f in res["sts"].items():
        click.echo(
            f"sts     {name:<24} spearman {f['spearman']:6.2f}  pearson {f['pearson']:6.2f}  ({f['pairs']} pairs)"
        )
    for name, f in res["bitext"].items():
        click.echo(
            f"bitext  {name:<24} accuracy {f['average']:6.2f}  "
            f"(->{f['source_to_target']:.2f} <-{f['target_to_source']:.2f}, {f['pairs']} pairs)"
        )
    speed = res["speed"]
    click.echo(f"speed   {speed['sentences_per_second']:.1f} sentences/s at batch {speed['batch_size']}")
    for gate in report.gates:
        mark = "pass" if gate.passed else "FAIL"
        click.echo(f"gate    {gate.metric:<32} {gate.value:.2f} >= {gate.threshold:.2f}  {mark}")
    click.echo(f"{report.build_dir}/results.json")
    if not report.ok:
        for gate in report.failures:
            click.echo(
                f"Error: {gate.metric} is {gate.value:.2f}, below the recipe's bar of {gate.threshold:.2f}", err=True
            )
        sys.exit(1)
