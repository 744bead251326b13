"""Every exception the kit raises on purpose, in one place, each carrying the facts a user needs.

The library raises these; the CLI turns each into one `Error:` line and the exit code its
class carries (docs/validation.md, "Exit codes"):

| code | meaning | raised as |
|---|---|---|
| 0 | ok | |
| 1 | a check or gate failed (validate, evaluate thresholds, lint, the release gate, a published version that differs) | `TfhubKitError` and most stage errors |
| 2 | bad recipe, data file or usage | `RecipeError`, `UsageError`, `TargetError` |
| 3 | the environment: credentials, network, a missing service or package | `ServiceError`, `UnreachableError` |
| 4 | a corrupt, incomplete or foreign build | `BuildLayoutError` |
| 5 | a bug in tfhub-kit (an exception it did not expect) | `KitBug`, `CheckCrashed`, any other exception |

This module imports nothing from the kit: every other module may import it.
"""

from __future__ import annotations

import errno
import reprlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_ENVIRONMENT = 3
EXIT_BAD_BUILD = 4
EXIT_KIT_BUG = 5

MAX_VALUE_CHARS = 200
"""How much of a received value an error message shows (a long value is cut, never expanded)."""


def first_line(exc: BaseException, limit: int = MAX_VALUE_CHARS) -> str:
    """The first non-empty line of an error's message, cut to `limit` (its type's name if empty)."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:limit]


_SHORT = reprlib.Repr()  # keyword arguments to Repr() need Python 3.12
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother = 3, MAX_VALUE_CHARS, 80
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxdict = _SHORT.maxset = 8


def short_repr(value: Any, limit: int = MAX_VALUE_CHARS) -> str:
    """A repr of `value` of at most `limit` characters, made without walking all of a huge
    or deeply nested value (a YAML alias bomb), so an error never prints or builds one."""
    return shorten(_SHORT.repr(value), limit)


def shorten(text: str, limit: int = MAX_VALUE_CHARS) -> str:
    """`text` cut to at most `limit` characters, ending in "..." when cut."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


class TfhubKitError(Exception):
    """Base class of every error the kit raises on purpose."""

    exit_code = EXIT_CHECK_FAILED


# --- bad input (exit 2) ---------------------------------------------------------------


class RecipeError(TfhubKitError, ValueError):
    """A recipe (or the source or data it names) is not usable.

    Carries the file, the dotted field, the value received and what is allowed, so the
    message tells the user exactly what to change.
    """

    exit_code = EXIT_BAD_INPUT

    def __init__(
        self,
        file: str | Path | None,
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
            parts.append(f"Received: {short_repr(value)}.")
        super().__init__(" ".join(parts))


class UsageError(TfhubKitError, ValueError):
    """A command was given an argument it cannot use (a malformed target URL, ...)."""

    exit_code = EXIT_BAD_INPUT


# --- the environment (exit 3) ---------------------------------------------------------


class ServiceError(TfhubKitError):
    """The environment is missing something: credentials, the network, a service, a package."""

    exit_code = EXIT_ENVIRONMENT


_ENVIRONMENT_ERRNOS = {
    errno.ENOSPC: "no space left on the device: free some space",
    errno.EDQUOT: "the disk quota is used up: free some space",
    errno.EACCES: "permission denied: check the folder's owner and mode",
    errno.EPERM: "operation not permitted: check the folder's owner and mode",
    errno.EROFS: "the file system is read-only: write somewhere else (--out)",
    errno.EADDRINUSE: "the address is already in use: choose another --port or stop the other server",
    errno.EADDRNOTAVAIL: "the address is not available on this machine",
    errno.EMFILE: "too many open files: raise the limit (ulimit -n)",
}
_ENVIRONMENT_MESSAGES = {  # TensorFlow's file errors carry the OS's words, not an errno
    "No space left on device": errno.ENOSPC,
    "Disk quota exceeded": errno.EDQUOT,
    "Read-only file system": errno.EROFS,
    "Permission denied": errno.EACCES,
}


def environment_error(exc: BaseException) -> TfhubKitError | None:
    """The `ServiceError` (exit 3) for an error the machine caused (a full disk, a read-only or
    forbidden folder, a port in use), naming the path or address; a `UsageError` (exit 2) for
    a path of the wrong kind (a file where a folder belongs); None for any other error."""
    code = exc.errno if isinstance(exc, OSError) else None
    if code in (errno.ENOTDIR, errno.EISDIR):
        kind = "a file where a folder is needed" if code == errno.ENOTDIR else "a folder where a file is needed"
        return UsageError(f"{getattr(exc, 'filename', None) or short_repr(str(exc))}: {kind}; give another path")
    if code is None:
        text = str(exc)
        code = next((c for words, c in _ENVIRONMENT_MESSAGES.items() if words in text), None)
    if code not in _ENVIRONMENT_ERRNOS:
        return None
    where = getattr(exc, "filename", None) or short_repr(str(exc))
    return ServiceError(f"{where}: {_ENVIRONMENT_ERRNOS[code]} ({errno.errorcode.get(code, code)})")


# --- a corrupt build (exit 4) ---------------------------------------------------------


class BuildLayoutError(TfhubKitError):
    """A build directory is missing files another stage needs, or holds corrupt or foreign ones."""

    exit_code = EXIT_BAD_BUILD


# --- stage errors (exit 1 unless said) ------------------------------------------------


class ExportError(TfhubKitError):
    """Writing SavedModels or the manifest failed; nothing was left half-written."""


class StaticPrecisionError(ExportError):
    """`static.precision` cannot be used for this teacher."""


class TrainError(TfhubKitError):
    """Training could not start or resume (environment, checkpoints); nothing was overwritten."""


class DocsError(TfhubKitError):
    """Docs could not be rendered, or the rendered docs break tfhub.dev's rules.

    `errors` are the lint findings (each prints as `file:line: [rule] message`)."""

    def __init__(self, message: str, errors: Sequence[object] | None = None) -> None:
        self.errors = list(errors or [])
        details = "".join(f"\n  {e}" for e in self.errors)
        super().__init__(message + details)


class PackageError(TfhubKitError):
    """A SavedModel or tarball breaks the member rules, or packaging failed."""


class GateError(TfhubKitError):
    """The build has not passed validate/evaluate as it is now."""

    def __init__(self, build: Path, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{build}: not releasable: " + "; ".join(problems) + " (--force ships it anyway)")


class PublishError(TfhubKitError):
    """A release could not be published; nothing published before was changed."""


class TargetError(PublishError):
    """A publish target (gs://..., kaggle://...) that is malformed: a usage error."""

    exit_code = EXIT_BAD_INPUT


class UnreachableError(PublishError, ServiceError):
    """No credentials, or the storage service cannot be reached: the environment (exit 3)."""

    exit_code = EXIT_ENVIRONMENT


class ReleaseError(TfhubKitError):
    """A stage failed; `stage` names it and `details` lists what failed."""

    def __init__(self, stage: str, details: list[str]) -> None:
        self.stage = stage
        self.details = details
        super().__init__(f"release stopped at {stage}: " + "; ".join(details) + ". Nothing was published.")


# --- a kit bug (exit 5) ---------------------------------------------------------------


class KitBug(TfhubKitError):
    """Something tfhub-kit's own code did not expect: not the user's input, not the model."""

    exit_code = EXIT_KIT_BUG


class CheckCrashed(KitBug):
    """A validate check raised in tfhub-kit's own code: a kit bug, not a verdict on the model."""
