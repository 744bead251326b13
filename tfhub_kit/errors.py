"""The kit's exception hierarchy: one class per stage, each carrying the facts a user needs.

The library raises these; the CLI turns each into one `Error:` line and the exit code its
class carries (README, "Exit codes"):

| code | meaning | raised as |
|---|---|---|
| 0 | ok | |
| 1 | a check or gate failed (validate, evaluate thresholds, lint, the release gate, a published version that differs) | `TfhubKitError` and most stage errors |
| 2 | bad recipe, data file or usage | `RecipeError`, `UsageError` |
| 3 | the environment: credentials, network, a missing service or package | `ServiceError` |
| 4 | a corrupt, incomplete or foreign build | `BuildLayoutError` |
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class TfhubKitError(Exception):
    """Base class of every error the kit raises on purpose."""

    exit_code = 1


class RecipeError(TfhubKitError, ValueError):
    """A recipe (or the source it names) is not usable.

    Carries the file, the dotted field, the value received and what is allowed, so the
    message tells the user exactly what to change.
    """

    exit_code = 2

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
    """A build directory is missing files another stage needs, or holds corrupt or foreign ones."""

    exit_code = 4


class UsageError(TfhubKitError, ValueError):
    """A command was given an argument it cannot use (a malformed target URL, ...)."""

    exit_code = 2


class ServiceError(TfhubKitError):
    """The environment is missing something: credentials, the network, a service, a package."""

    exit_code = 3


class TrainError(TfhubKitError):
    """Training could not start or resume (environment, checkpoints); nothing was overwritten."""
