"""The CLI: an example in every --help, and `export` end to end."""

from __future__ import annotations

import json
import re

import click
import pytest
from click.testing import CliRunner
from conftest import ROOT

from tfhub_kit.cli import main


def _command_paths(group, prefix=()) -> list[list[str]]:
    """Every command and group under `group`, as argument lists: a new command cannot escape."""
    import click

    paths = [list(prefix)]
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            paths += _command_paths(command, (*prefix, name))
        else:
            paths.append([*prefix, name])
    return paths


COMMANDS = _command_paths(main)


def test_the_readme_command_table_lists_every_command_and_only_those():
    """A command added to the CLI (or removed from it) without the README's table fails here."""
    table = (ROOT / "README.md").read_text().split("## Commands", 1)[1].split("\n## ", 1)[0]
    # `| `tfhub-kit recipe check RECIPE_DIR` |` -> "recipe check": the lowercase words are the command
    documented = {
        re.match(r"\| `tfhub-kit ([a-z ]+)", line)[1].strip() for line in table.splitlines() if "`tfhub-kit " in line
    }
    leaves = {" ".join(path) for path in COMMANDS if path and not isinstance(_command(path), click.Group)}
    assert documented == leaves


def _command(path: list[str]) -> click.Command:
    command = main
    for name in path:
        command = command.commands[name]
    return command


@pytest.mark.parametrize("recipe", sorted(p.parent.name for p in (ROOT / "models").glob("*/*/recipe.yaml")))
def test_every_sample_recipe_passes_recipe_check(recipe):
    result = CliRunner().invoke(main, ["recipe", "check", str(ROOT / "models" / "tfhub-kit" / recipe)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"ok: tfhub-kit/{recipe}/")


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a) or "tfhub-kit")
def test_every_help_has_an_example(args):
    result = CliRunner().invoke(main, [*args, "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output and "tfhub-kit " in result.output


def test_export_command_writes_build_and_reports_progress(tiny_build, tmp_path):
    recipe = tiny_build.root.parents[3]  # the tiny BERT's recipe folder
    result = CliRunner().invoke(main, ["export", str(recipe), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    root = tmp_path / "test" / "tiny_bert" / "1"
    assert f"{root}/encoder" in result.output and f"{root}/manifest.json" in result.output
    assert "[tfhub-kit] saving embedding/" in result.output  # progress goes to stderr
    assert json.loads((root / "manifest.json").read_text())["handle"] == "test/tiny_bert/1"
