"""Progress: messages through `logging` (quiet with --quiet), bars on an interactive terminal."""

from __future__ import annotations

import io
import logging

from click.testing import CliRunner
from conftest import ROOT

from tfhub_kit import progress
from tfhub_kit.cli import main


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_bar_draws_on_a_terminal_and_not_when_quiet_or_piped(monkeypatch):
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    try:
        progress.configure_cli_logging(quiet=False)
        assert list(progress.bar(range(5), total=5, desc="teacher vectors", unit="batch")) == [0, 1, 2, 3, 4]
        drawn = terminal.getvalue()
        assert "teacher vectors:" in drawn and "/5 [" in drawn  # a tqdm bar (cleared when done)
        steps = progress.bar_for(10, desc="training", unit="step")
        steps.update(10)
        steps.close()
        assert "training:" in terminal.getvalue() and "/10 [" in terminal.getvalue()

        progress.configure_cli_logging(quiet=True)
        before = terminal.getvalue()
        assert list(progress.bar(range(3), total=3, desc="quiet")) == [0, 1, 2]
        assert terminal.getvalue() == before  # --quiet: no bar
    finally:
        progress.reset_cli_logging()
    piped = io.StringIO()  # not a terminal: the loop runs unchanged, the log lines carry progress
    monkeypatch.setattr("sys.stderr", piped)
    progress.configure_cli_logging(quiet=False)
    try:
        assert list(progress.bar(range(3), total=3, desc="piped")) == [0, 1, 2]
        assert "piped" not in piped.getvalue()
    finally:
        progress.reset_cli_logging()


def test_a_reporter_logs_once_and_passes_messages_to_the_caller(caplog):
    said: list[str] = []
    say = progress.reporter(said.append)
    assert progress.reporter(say) is say  # handed down to a nested stage: not wrapped twice
    with caplog.at_level(logging.INFO, logger="tfhub_kit"):
        say("exporting")
    assert said == ["exporting"] and [r.message for r in caplog.records] == ["exporting"]


def test_quiet_keeps_results_and_drops_progress(tmp_path):
    corpus = ROOT / "data" / "tatoeba" / "tatoeba.deu-eng.eng"
    args = ["vocab", "learn", str(corpus), "--size", "300", "--out", str(tmp_path / "v")]
    loud = CliRunner().invoke(main, args)
    quiet = CliRunner().invoke(main, ["--quiet", *args])
    assert loud.exit_code == quiet.exit_code == 0, loud.output + quiet.output
    assert "[tfhub-kit] learning a 300-token wordpiece vocabulary" in loud.stderr
    assert "[tfhub-kit]" not in quiet.stderr
    assert "vocab.txt:" in quiet.stdout and (tmp_path / "v" / "vocab.txt").is_file()
