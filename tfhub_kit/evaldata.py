"""A build's evaluation data: every file the recipe's `evaluate:` names, checked and copied.

Export checks that each file decodes as UTF-8 (naming the file and line) and copies it into
the build's `eval_data/`, named by its hash in the manifest, with at most the original's
permissions; a file from outside the recipe's repository is named in the manifest. So the
build can be evaluated after the repository moves, and `evaluate` knows when a file changed.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path
from typing import Any

from tfhub_kit.datasets import first_non_utf8_line
from tfhub_kit.errors import RecipeError
from tfhub_kit.files import sha256_file
from tfhub_kit.recipe import Recipe, data_files

EVAL_DATA_DIR = "eval_data"


def eval_files(recipe: Recipe) -> list[tuple[str, str]]:
    """(dotted field, path relative to the recipe) of every evaluation data file: the
    `evaluate.` entries of the recipe's `data_files`."""
    return [(field, path) for field, path in data_files(recipe) if field.startswith("evaluate.")]


def check_eval_data(recipe: Recipe) -> None:
    """Evaluation data must decode as UTF-8 (after an optional BOM): found at export, with the
    file and line, not later inside `evaluate`."""
    for field, relative in eval_files(recipe):
        bad = first_non_utf8_line(recipe.data_path(relative))
        if bad:
            line, problem = bad
            raise RecipeError(
                recipe.file,
                field,
                f"{recipe.data_path(relative)} line {line}: {problem}",
                allowed="a UTF-8 text file (convert it, e.g. with iconv -t UTF-8)",
                show_value=False,
            )


def repository_root(folder: Path) -> Path:
    """The repository a recipe lives in (the nearest folder above it with `.git`), else the
    recipe folder: data read from outside it is named in the manifest."""
    for parent in [folder, *folder.parents]:
        if (parent / ".git").exists():
            return parent
    return folder


def evaluate_config(recipe: Recipe, stage: Path) -> dict[str, Any]:
    """The recipe's evaluate section for the evaluate stage, each data file copied into the
    build's `eval_data/` and named by its path there and its sha256."""
    config = dataclasses.asdict(recipe.evaluate)

    def copy(relative: str) -> tuple[str, str]:
        original = recipe.data_path(relative)
        digest = sha256_file(original)
        name = f"{EVAL_DATA_DIR}/{digest[:12]}-{original.name}"
        (stage / EVAL_DATA_DIR).mkdir(exist_ok=True)
        shutil.copyfile(original, stage / name)
        os.chmod(stage / name, original.stat().st_mode & 0o777)  # never more readable than the original
        return name, digest

    root = repository_root(recipe.folder)
    outside = sorted(
        {p for p in (recipe.data_path(rel) for _field, rel in eval_files(recipe)) if not p.is_relative_to(root)}
    )
    if outside:
        config["outside_repository"] = [str(p) for p in outside]

    for item in config["sts"]:
        item["path"], item["sha256"] = copy(item["path"])
    for item in config["bitext"]:
        item["source"], item["source_sha256"] = copy(item["source"])
        item["target"], item["target_sha256"] = copy(item["target"])
    for item in config["mlm"]:
        item["path"], item["sha256"] = copy(item["path"])
    return config
