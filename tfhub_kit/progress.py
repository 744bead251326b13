"""Progress for long work: messages through `logging`, bars through tqdm.

Every stage reports what it does with `reporter(progress)`: the returned function logs each
message on the `tfhub_kit` logger (INFO) and, when the caller passed its own `progress`
callable (a test collecting lines, a notebook), hands the message to it too. The CLI sets
up the handler (`[tfhub-kit] message` on stderr) and `--quiet` raises the level to WARNING.

Long loops (training steps, teacher embeddings, static distillation, corpus preparation,
uploads) wrap their iterable in `bar(...)`: a tqdm bar on stderr when it is a terminal and
the logger is not quiet; elsewhere the loop runs unchanged and the stage's log lines carry
the progress.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

LOGGER_NAME = "tfhub_kit"
Progress = Callable[[str], None]
T = TypeVar("T")

logger = logging.getLogger(LOGGER_NAME)


def reporter(progress: Progress | None = None) -> Progress:
    """A function that logs a message (INFO) and passes it to `progress` if one was given.

    A reporter passed down to a nested stage is returned as it is, so nothing is said twice."""
    if getattr(progress, "_tfhub_kit_reporter", False):
        return progress  # type: ignore[return-value]

    def say(message: str) -> None:
        logger.info(message)
        if progress is not None:
            progress(message)

    say._tfhub_kit_reporter = True  # type: ignore[attr-defined]
    return say


def configure_cli_logging(*, quiet: bool = False) -> None:
    """Send the kit's messages to stderr as `[tfhub-kit] message`; `quiet` keeps warnings only."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[tfhub-kit] %(message)s"))
    reset_cli_logging()
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    logger.propagate = False


def reset_cli_logging() -> None:
    """Remove the CLI's handler (when a command ends: its stderr may be gone, e.g. under CliRunner)."""
    for old in list(logger.handlers):
        logger.removeHandler(old)
    logger.setLevel(logging.NOTSET)
    logger.propagate = True


def _bars_shown() -> bool:
    """Bars go to an interactive stderr, and only when the CLI shows progress (not --quiet)."""
    return bool(sys.stderr.isatty() and logger.isEnabledFor(logging.INFO) and logger.handlers)


def bar(iterable: Iterable[T], *, total: int | None = None, desc: str = "", unit: str = "it") -> Iterator[T]:
    """`iterable`, with a tqdm bar on an interactive, non-quiet stderr."""
    if not _bars_shown():
        yield from iterable
        return
    from tqdm.auto import tqdm

    yield from tqdm(iterable, total=total, desc=desc, unit=unit, leave=False, file=sys.stderr)


def bar_for(total: int, *, desc: str = "", unit: str = "it") -> Any:
    """A manually advanced bar (`.update(n)`, `.close()`) for work not shaped as a loop;
    a no-op object where `bar` would show nothing."""
    if _bars_shown():
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, unit=unit, leave=False, file=sys.stderr)
    return _NoBar()


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass
