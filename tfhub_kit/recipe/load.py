"""Read `recipe.yaml` safely and build a validated `Recipe`."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml

from tfhub_kit.errors import RecipeError, shorten
from tfhub_kit.recipe.checks import check_recipe, resolve_source
from tfhub_kit.recipe.coerce import parse_fields
from tfhub_kit.recipe.schema import RECIPE_FILE, Recipe

MAX_RECIPE_BYTES = 1024 * 1024
"""A recipe is a page of settings; anything larger is refused before it is parsed."""
MAX_ALIASES = 100
"""YAML aliases (`*name`) a recipe may use: enough for shared settings, not for an alias bomb."""


def load_recipe(folder: str | Path) -> Recipe:
    """Read `<folder>/recipe.yaml`, validate every field and resolve the source folder."""
    folder = Path(folder)
    file = folder / RECIPE_FILE if folder.is_dir() or not folder.suffix else folder
    if not file.is_file():
        raise RecipeError(
            folder, RECIPE_FILE, "file not found", allowed=f"a recipe folder containing {RECIPE_FILE}", show_value=False
        )
    size = file.stat().st_size
    if size > MAX_RECIPE_BYTES:
        raise RecipeError(
            file, "(file)", f"is {size:,} bytes", allowed=f"at most {MAX_RECIPE_BYTES:,} bytes", show_value=False
        )
    raw = file.read_bytes()
    try:
        data = yaml.load(raw, Loader=_BoundedLoader)
    except yaml.YAMLError as exc:
        raise RecipeError(file, "(file)", f"not valid YAML ({_first_lines(exc)})", show_value=False) from exc
    if not isinstance(data, dict):
        raise RecipeError(file, "(top level)", "must be a mapping of sections", value=data)
    sections = {k: v for k, v in data.items()}
    parsed = parse_fields(Recipe, sections, file, prefix="", skip={"folder", "file", "sha256", "source_dir"})
    recipe = Recipe(
        folder=file.parent.resolve(),
        file=file.resolve(),
        sha256=hashlib.sha256(raw).hexdigest(),
        source_dir=resolve_source(parsed["source"], file.resolve()),
        **parsed,
    )
    check_recipe(recipe)
    return recipe


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader that refuses a document with more than `MAX_ALIASES` aliases."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases = getattr(self, "_aliases", 0) + 1
            if self._aliases > MAX_ALIASES:
                mark = self.peek_event().start_mark
                raise yaml.YAMLError(f"more than {MAX_ALIASES} aliases (line {mark.line + 1}); write the values out")
        return super().compose_node(parent, index)


def _first_lines(exc: yaml.YAMLError, limit: int = 300) -> str:
    return shorten(" ".join(str(exc).split()), limit)
