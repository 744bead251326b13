"""The CLI: an example in every --help, and `export` end to end."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

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


def test_the_command_list_is_the_whole_cli():
    assert len(COMMANDS) >= 13 and ["export"] in COMMANDS and ["recipe", "check"] in COMMANDS


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
