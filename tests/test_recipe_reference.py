"""docs/recipes.md is generated from the recipe schema, documents every field, and is current."""

from __future__ import annotations

from dataclasses import dataclass

from conftest import ROOT

from tfhub_kit.recipe import reference
from tfhub_kit.recipe.schema import Recipe


def test_every_recipe_field_is_documented_and_the_page_is_current():
    assert reference.undocumented() == []
    page = (ROOT / "docs" / "recipes.md").read_text(encoding="utf-8")
    assert page == reference.render(), "run: python -m tfhub_kit.recipe.reference --write docs/recipes.md"
    for section in reference.sections():
        for name in section.cls.__dataclass_fields__:
            if name not in reference.SKIPPED:
                assert f"| `{name}` |" in page, f"{section.path}.{name} is missing from docs/recipes.md"


@dataclass(frozen=True)
class _Inner:
    """An inner section; names `known` only."""

    known: int = 1
    secret: int = 2


@dataclass(frozen=True)
class _Outer:
    """The top; names `inner`."""

    inner: _Inner = _Inner()
    loose: str = ""
    """A field with a docstring of its own."""


def test_an_undocumented_field_is_reported_with_its_dotted_path():
    assert reference.undocumented(_Outer) == ["inner.secret"]


def test_the_check_fails_on_a_stale_page(tmp_path, capsys):
    stale = tmp_path / "recipes.md"
    stale.write_text("# old\n", encoding="utf-8")
    assert reference.main(["--check", str(stale)]) == 1
    assert "is stale" in capsys.readouterr().out
    assert reference.main(["--write", str(stale)]) == 0
    assert reference.main(["--check", str(stale)]) == 0
    assert Recipe.__dataclass_fields__.keys() >= {"model", "source", "train"}
