"""The kit's exception hierarchy: one class per stage, each carrying the facts a user needs.

The library raises these; the CLI turns them into one-line messages and exit codes
(`RecipeError` -> 2, any other `TfhubKitError` -> 1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class TfhubKitError(Exception):
    """Base class of every error the kit raises on purpose."""


class RecipeError(TfhubKitError, ValueError):
    """A recipe (or the source it names) is not usable.

    Carries the file, the dotted field, the value received and what is allowed, so the
    message tells the user exactly what to change.
    """

    def __init__(
        self,
        file: str | Path,
        field: str,
        problem: str,
        *,
        allowed: str | None = None,
        value: Any = None,
        show_value: bool = True,
    ) -> None:
        self.file = str(file)
        self.field = field
        self.problem = problem
        self.allowed = allowed
        self.value = value
        parts = [f"{self.file}: field '{field}': {problem}."]
        if allowed:
            parts.append(f"Allowed: {allowed}.")
        if show_value:
            parts.append(f"Received: {value!r}.")
        super().__init__(" ".join(parts))


class ExportError(TfhubKitError):
    """Writing SavedModels or the manifest failed; nothing was left half-written."""


class BuildLayoutError(TfhubKitError):
    """A build directory is missing files another stage needs."""


class TrainError(TfhubKitError):
    """Training could not start or resume (environment, checkpoints); nothing was overwritten."""
