"""One writer at a time: an exclusive lock on a folder a stage writes (a run folder, a build).

    with writer_lock(build_root, "export"):
        ...   # a second `tfhub-kit export` of the same build stops here with exit 3

The lock is `fcntl.flock` on a file beside the folder (`.<name>.lock`, so it survives the
folder being swapped atomically); the holder writes its PID and command into it. The kernel
drops the lock when the holder exits, however it exits, so a killed run never leaves a stale
lock. A second writer does not wait: it stops at once with `ServiceError` (exit 3) naming
the holder's PID.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from tfhub_kit.errors import ServiceError


def lock_file(folder: Path) -> Path:
    """Where the lock of `folder` lives: `.<name>.lock` beside it."""
    folder = Path(folder)
    return folder.with_name(f".{folder.name}.lock")


@contextlib.contextmanager
def writer_lock(folder: str | Path, what: str) -> Iterator[None]:
    """Hold the write lock of `folder` for `what` (e.g. "train", "export"); raise
    `ServiceError` if another live process holds it."""
    path = lock_file(Path(folder))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "unknown"
            raise ServiceError(
                f"{folder}: another tfhub-kit process is writing here ({holder}); "
                "wait for it to finish or stop it, then run again"
            ) from exc
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"PID {os.getpid()}, {what}".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
