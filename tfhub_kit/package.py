"""Package stage: one reproducible `.tar.gz` per SavedModel, plus `SHA256SUMS`.

    result = package_build("build/tfhub-kit/all_minilm_l6_v2/1")

The archive root is the SavedModel root (what tensorflow_hub and tfhub.dev's smoke test
expect). Only SavedModel members are allowed (`saved_model.pb`, `fingerprint.pb`,
`variables/*`, `assets/*`, ...); members are sorted, mtime 0, uid/gid 0, no user names,
and the gzip header has no name or time, so the same build gives byte-identical tarballs.

Reading a tarball (`verify_tarball`, `safe_extract`) rejects `..`, absolute paths, links,
device files and dot-paths, as tensorflow_hub's own extraction does.
"""

from __future__ import annotations

import gzip
import os
import shutil
import stat
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tfhub_kit.errors import BuildLayoutError, PackageError
from tfhub_kit.files import sha256_file
from tfhub_kit.layout import CHECKSUMS_FILE, BuildLayout, recover_stale, swap_into_place
from tfhub_kit.locks import writer_lock
from tfhub_kit.progress import reporter

ROOT_FILES = frozenset(
    {"saved_model.pb", "saved_model.pbtxt", "fingerprint.pb", "keras_metadata.pb", "tfhub_module.pb"}
)
DIRECTORIES = frozenset({"variables", "assets", "assets.extra"})
COMPRESS_LEVEL = 6  # gzip's default, what `tar -czf` uses


@dataclass(frozen=True)
class PackageResult:
    tarballs: dict[str, Path]
    checksums: Path


def package_build(build_dir: str | Path, *, progress: Callable[[str], None] | None = None) -> PackageResult:
    """Write dist/<publisher>/<model>/<version>.tar.gz for each SavedModel and dist/SHA256SUMS.

    The build is checked first: a symbolic or hard link, a FIFO, a socket or a device file
    anywhere in it stops packaging (`BuildLayoutError`, exit 4) before anything is written.
    The new dist/ is written whole into a temporary folder and swapped into place, so a
    failure (a full disk, an interruption) leaves the previous dist/ as it was."""
    say = reporter(progress)
    layout = BuildLayout(Path(build_dir))
    manifest = layout.read_manifest()
    with writer_lock(layout.root, "package"):
        check_regular_files(layout.root)
        recover_stale(layout.dist, say)
        tmp = layout.dist.with_name(f".{layout.dist.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            staged: dict[str, Path] = {}
            for kind in manifest.saved_models:
                dest = tmp / layout.tarball(manifest, kind).relative_to(layout.dist)
                say(f"packing {kind}/ -> {layout.tarball(manifest, kind).relative_to(layout.root)}")
                write_tarball(layout.saved_model(kind), dest)
                verify_tarball(dest)
                staged[kind] = dest
            lines = [f"{sha256_file(path)}  {path.relative_to(tmp).as_posix()}\n" for path in sorted(staged.values())]
            (tmp / CHECKSUMS_FILE).write_bytes("".join(lines).encode())
            kept = {p.relative_to(tmp) for p in tmp.rglob("*") if p.is_file()}
            for stale in sorted(layout.dist.rglob("*") if layout.dist.is_dir() else []):
                if stale.is_file() and stale.relative_to(layout.dist) not in kept:
                    say(f"removing stale {stale.relative_to(layout.root)}")  # the build no longer has it
            swap_into_place(tmp, layout.dist)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    tarballs = {kind: layout.tarball(manifest, kind) for kind in manifest.saved_models}
    return PackageResult(tarballs=tarballs, checksums=layout.dist / CHECKSUMS_FILE)


def check_regular_files(root: Path) -> None:
    """Refuse a build that holds anything but regular files and folders: a symbolic link, a
    hard link (a file with a second name, possibly outside the build), a FIFO, a socket or a
    device would be packaged or published as something other than what was validated."""
    for path in sorted(root.rglob("*")):
        if path.name.startswith(".") or any(p.startswith(".") for p in path.relative_to(root).parts):
            continue  # temp files of a stage (`.<name>.tmp-<pid>`), never packaged
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            problem = "a symbolic link"
        elif stat.S_ISDIR(info.st_mode):
            continue
        elif not stat.S_ISREG(info.st_mode):
            problem = "not a regular file (a FIFO, socket or device)"
        elif info.st_nlink > 1:
            problem = f"a hard link ({info.st_nlink} names share its content)"
        else:
            continue
        raise BuildLayoutError(
            f"{path}: {problem}; a build holds regular files only. Remove it and export again "
            f"(`tfhub-kit export --fresh`)"
        )


def write_tarball(saved_model_dir: Path, dest: Path) -> None:
    """Pack `saved_model_dir` (its contents at the archive root) into `dest`, reproducibly."""
    members = saved_model_members(saved_model_dir)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    try:
        with (
            tmp.open("wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=COMPRESS_LEVEL) as gz,
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            for name in members:
                path = saved_model_dir / name
                info = tarfile.TarInfo(name)
                info.mtime = 0
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                if path.is_dir():
                    info.type = tarfile.DIRTYPE
                    info.mode = 0o755
                    tar.addfile(info)
                else:
                    info.size = path.stat().st_size
                    info.mode = 0o644
                    with path.open("rb") as f:
                        tar.addfile(info, f)
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)


def saved_model_members(saved_model_dir: Path) -> list[str]:
    """The sorted archive member names of a SavedModel folder; raises on anything not allowed."""
    if not (saved_model_dir / "saved_model.pb").is_file():
        raise PackageError(f"{saved_model_dir}: not a SavedModel (no saved_model.pb)")
    names = []
    for path in sorted(saved_model_dir.rglob("*")):
        name = path.relative_to(saved_model_dir).as_posix()
        problem = member_problem(
            name, is_file=path.is_file() and not path.is_symlink(), is_dir=path.is_dir() and not path.is_symlink()
        )
        if problem:
            raise PackageError(f"{saved_model_dir}: cannot package {name!r}: {problem}")
        names.append(name)
    return names


def member_problem(name: str, *, is_file: bool, is_dir: bool) -> str | None:
    """Why `name` may not be a member of a TF Hub tarball, or None if it may."""
    path = PurePosixPath(name)
    if path.is_absolute() or name.startswith("/"):
        return "absolute path"
    if any(part == ".." for part in path.parts):
        return "path with '..'"
    if any(part.startswith(".") for part in path.parts):
        return "path part starting with '.'"
    if not (is_file or is_dir):
        return "not a regular file or directory (links and devices are refused)"
    top = path.parts[0] if path.parts else ""
    if len(path.parts) == 1:
        if is_dir and top in DIRECTORIES:
            return None
        if is_file and top in ROOT_FILES:
            return None
        return f"not an allowed SavedModel member (allowed at the root: {', '.join(sorted(ROOT_FILES | DIRECTORIES))})"
    if top not in DIRECTORIES:
        return f"not under {', '.join(sorted(DIRECTORIES))}"
    if top == "variables" and not (is_file and len(path.parts) == 2 and path.name.startswith("variables.")):
        return "variables/ holds only variables.* files"
    return None


def iter_safe_members(tar: tarfile.TarFile, source: str) -> Iterator[tarfile.TarInfo]:
    """The members of an open tarball, raising `PackageError` on the first unsafe one."""
    for info in tar:
        problem = member_problem(info.name.rstrip("/"), is_file=info.isreg(), is_dir=info.isdir())
        if problem:
            raise PackageError(f"{source}: refusing member {info.name!r}: {problem}")
        yield info


def verify_tarball(path: Path) -> list[str]:
    """Check every member and that saved_model.pb parses; return the member names."""
    from tensorflow.core.protobuf import saved_model_pb2

    names, proto_bytes = [], None
    with tarfile.open(path, "r:gz") as tar:
        for info in iter_safe_members(tar, str(path)):
            names.append(info.name)
            if info.name == "saved_model.pb":
                member = tar.extractfile(info)
                proto_bytes = member.read() if member is not None else None
    if proto_bytes is None:
        raise PackageError(f"{path}: no saved_model.pb at the archive root")
    try:
        saved_model_pb2.SavedModel().ParseFromString(proto_bytes)
    except Exception as exc:
        raise PackageError(f"{path}: saved_model.pb does not parse: {exc}") from exc
    return names


def safe_extract(path: Path, dest: Path) -> None:
    """Extract a TF Hub tarball into `dest` (created), refusing unsafe members."""
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        with tarfile.open(path, "r:gz") as tar:
            for info in iter_safe_members(tar, str(path)):
                target = tmp / info.name
                if info.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(info)
                if src is None:  # iter_safe_members passes regular files and folders only
                    raise PackageError(f"{path}: {info.name} has no content")
                with src, target.open("wb") as out:
                    shutil.copyfileobj(src, out)
        tmp.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def read_checksums(path: Path) -> dict[str, str]:
    """SHA256SUMS as {relative path: hex digest}."""
    out = {}
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64:
            raise BuildLayoutError(f"{path} line {number}: not '<sha256>  <path>'; run `tfhub-kit package` again")
        out[name] = digest
    return out
