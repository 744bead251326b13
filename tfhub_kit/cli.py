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
