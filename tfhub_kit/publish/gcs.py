"""Publish a packaged build to Google Cloud Storage, never overwriting a published version.

    plan = plan_gcs("build/tfhub-kit/all_minilm_l6_v2/1", "gs://my-bucket/hub")
    report = publish_gcs(plan)                       # or plan.describe() for --dry-run

Objects: `<prefix>/<publisher>/<model>/<version>.tar.gz` per SavedModel with a `.sha256`
beside it, the build manifest as `<prefix>/<publisher>/<model>/<version>.manifest.json`
(written last: its presence marks a complete release) and the docs under `<prefix>/docs/`.

Safety: before uploading, each versioned object that already exists is compared with the
local file by crc32c: identical means a previous run got that far (skipped, so a rerun
after an interruption uploads only what is missing); different means the version is
published and the run stops with `PublishError` naming the object. Uploads also carry
`if_generation_match=0`. Files over 8 MiB go up in resumable chunks with progress; every
upload is verified afterwards against the local crc32c and md5.
"""

from __future__ import annotations

import base64
import hashlib
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tfhub_kit.errors import BuildLayoutError, PublishError, TargetError, UnreachableError
from tfhub_kit.files import sha256_file
from tfhub_kit.layout import CHECKSUMS_FILE, BuildLayout, model_names, model_path, results_png_path
from tfhub_kit.package import read_checksums
from tfhub_kit.plots import RESULTS_PNG
from tfhub_kit.progress import bar_for, reporter

RESUMABLE_THRESHOLD = 8 * 1024 * 1024
CHUNK_SIZE = 8 * 1024 * 1024  # a multiple of 256 KiB, as GCS requires
GCS_URL = re.compile(r"^gs://(?P<bucket>[a-z0-9][a-z0-9._-]{1,220}[a-z0-9])(?:/(?P<prefix>.*))?$")


@dataclass(frozen=True)
class Upload:
    """One object to write: from a local file, or from bytes made by the plan."""

    name: str
    content_type: str
    versioned: bool
    """True for objects that make up a published version (never overwritten)."""
    path: Path | None = None
    data: bytes | None = None
    sha256: str | None = None
    """For a tarball: its sha256 in SHA256SUMS, checked before and after the upload."""

    @property
    def size(self) -> int:
        if self.data is not None:
            return len(self.data)
        assert self.path is not None
        return self.path.stat().st_size

    def open(self) -> IO[bytes]:
        import io

        if self.data is not None:
            return io.BytesIO(self.data)
        assert self.path is not None
        return self.path.open("rb")


@dataclass(frozen=True)
class GcsPlan:
    bucket: str
    prefix: str
    uploads: list[Upload]
    public_urls: dict[str, str]

    def describe(self) -> str:
        lines = [f"publish to gs://{self.bucket}/{self.prefix}".rstrip("/")]
        for u in self.uploads:
            lines.append(f"  {u.size:>12,} B  gs://{self.bucket}/{u.name}{'  (versioned)' if u.versioned else ''}")
        lines += [f"  public URL of {kind}: {url}" for kind, url in self.public_urls.items()]
        return "\n".join(lines)


@dataclass
class GcsReport:
    uploaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def parse_gcs_url(url: str) -> tuple[str, str]:
    match = GCS_URL.match(url)
    if not match:
        raise TargetError(f"not a GCS location: {url!r}; expected gs://BUCKET or gs://BUCKET/PREFIX")
    return match["bucket"], (match["prefix"] or "").strip("/")


def plan_gcs(build_dir: str | Path, target: str, *, public_url_base: str | None = None) -> GcsPlan:
    """What publishing the build to `target` (gs://BUCKET/PREFIX) would write."""
    bucket, prefix = parse_gcs_url(target)
    layout = BuildLayout(Path(build_dir))
    manifest = layout.read_manifest()

    def join(*parts):
        return "/".join(p for p in parts if p)

    uploads: list[Upload] = []
    base = (public_url_base or f"https://storage.googleapis.com/{join(bucket, prefix)}").rstrip("/")
    public_urls = {}
    sums = _checksums_file(layout)
    for kind in manifest.saved_models:
        tarball = layout.tarball(manifest, kind)
        expected = _checked_tarball(layout, tarball, sums)
        name = join(prefix, model_path(manifest, kind))
        uploads.append(Upload(name, "application/gzip", True, path=tarball, sha256=expected))
        digest = f"{expected}  {tarball.name}\n".encode()
        uploads.append(Upload(name + ".sha256", "text/plain", True, data=digest))
        public_urls[kind] = f"{base}/{model_path(manifest, kind)}"
    if layout.docs.is_dir():
        for doc in sorted(p for p in layout.docs.rglob("*") if p.is_file()):
            relative = doc.relative_to(layout.docs).as_posix()
            uploads.append(Upload(join(prefix, "docs", relative), "text/markdown", False, path=doc))
    picture = layout.root / RESULTS_PNG
    if picture.is_file():
        uploads.append(Upload(join(prefix, results_png_path(manifest)), "image/png", True, path=picture))
    main = next(iter(model_names(manifest).items()))
    head = model_path(manifest, main[0])[: -len(".tar.gz")]
    uploads.append(Upload(join(prefix, head + ".manifest.json"), "application/json", True, path=layout.manifest_file))
    return GcsPlan(bucket=bucket, prefix=prefix, uploads=uploads, public_urls=public_urls)


def _checksums_file(layout: BuildLayout) -> dict[str, str]:
    path = layout.dist / CHECKSUMS_FILE
    if not path.is_file() or path.is_symlink():
        raise BuildLayoutError(f"{path} is missing; run `tfhub-kit package {layout.root}` first")
    return read_checksums(path)


def _checked_tarball(layout: BuildLayout, tarball: Path, sums: dict[str, str]) -> str:
    """The tarball's sha256, after checking it is a regular file (not a link to something
    else) whose content is what `package` recorded in SHA256SUMS."""
    if tarball.is_symlink() or (tarball.exists() and not stat.S_ISREG(tarball.lstat().st_mode)):
        raise BuildLayoutError(f"{tarball}: not a regular file (a link?); run `tfhub-kit package {layout.root}` again")
    if not tarball.is_file():
        raise BuildLayoutError(f"{tarball} is missing; run `tfhub-kit package {layout.root}` first")
    relative = tarball.relative_to(layout.dist).as_posix()
    found = sha256_file(tarball)
    if sums.get(relative) != found:
        raise BuildLayoutError(
            f"{tarball}: sha256 {found[:12]}... is not the {CHECKSUMS_FILE} entry "
            f"({(sums.get(relative) or 'none')[:12]}...): the tarball changed after packaging; "
            f"run `tfhub-kit package {layout.root}` again"
        )
    return found


def publish_gcs(
    plan: GcsPlan,
    *,
    client: Any = None,
    progress: Callable[[str], None] | None = None,
    retry_deadline: float = 120.0,
) -> GcsReport:
    """Carry out `plan`; raise `PublishError` on an existing version or a failed upload.

    `retry_deadline` bounds how long transient errors (503s, dropped connections) are
    retried for each upload.
    """
    from google.api_core import exceptions
    from google.cloud.storage.retry import DEFAULT_RETRY

    say = reporter(progress)
    client = client or _client()
    retry = DEFAULT_RETRY.with_deadline(retry_deadline)
    bucket = client.bucket(plan.bucket)
    # Preflight: every tarball is still what SHA256SUMS says, and every object of this version
    # is compared before anything is written, so a conflict stops the run with nothing uploaded.
    local = {}
    for upload in plan.uploads:
        crc, md5, sha256 = _checksums(upload)  # one read of each file for all three digests
        if upload.sha256 is not None and sha256 != upload.sha256:
            raise _changed(upload, "before the upload")
        local[upload.name] = crc, md5
    try:
        if not bucket.exists(retry=retry):
            raise PublishError(f"bucket gs://{plan.bucket} does not exist (or is not visible to these credentials)")
        existing = {u.name: bucket.get_blob(u.name, retry=retry) for u in plan.uploads}
    except (exceptions.GoogleAPICallError, exceptions.RetryError, OSError) as exc:  # requests' errors are OSErrors
        raise UnreachableError(f"cannot reach gs://{plan.bucket}: {type(exc).__name__}: {_first_line(exc)}") from exc
    conflicts = [
        f"gs://{plan.bucket}/{u.name}"
        for u in plan.uploads
        if u.versioned and existing[u.name] is not None and existing[u.name].crc32c != local[u.name][0]
    ]
    if conflicts:
        raise PublishError(
            f"{conflicts[0]} already exists with different content"
            + (f" (and {len(conflicts) - 1} more objects of this version)" if len(conflicts) > 1 else "")
            + ": this version is published and is never overwritten. "
            "Bump model.version in the recipe, export and release again."
        )
    report = GcsReport()
    for upload in plan.uploads:
        where = f"gs://{plan.bucket}/{upload.name}"
        local_crc, local_md5 = local[upload.name]
        if existing[upload.name] is not None and existing[upload.name].crc32c == local_crc:
            report.skipped.append(where)
            say(f"already there, identical: {where}")
            continue
        _upload(bucket, upload, where, retry, exists=existing[upload.name] is not None, say=say)
        _same_sha256(upload, "during the upload")
        try:
            blob = bucket.get_blob(upload.name, retry=retry)
        except (exceptions.GoogleAPICallError, exceptions.RetryError, OSError) as exc:
            raise UnreachableError(
                f"{where} was uploaded but could not be read back to verify it ({type(exc).__name__}: "
                f"{_first_line(exc)}); run the same publish again: identical objects are skipped"
            ) from exc
        if blob is None or blob.crc32c != local_crc or (blob.md5_hash and blob.md5_hash != local_md5):
            found = None if blob is None else (blob.crc32c, blob.md5_hash)
            raise PublishError(
                f"{where}: verification failed after upload (crc32c/md5 {found}, local {(local_crc, local_md5)})"
            )
        report.uploaded.append(where)
    return report


def _same_sha256(upload: Upload, when: str) -> None:
    """A tarball must still hash to its SHA256SUMS entry (a file replaced or edited meanwhile is not shipped)."""
    if upload.sha256 is None or upload.path is None:
        return
    if upload.path.is_symlink() or not upload.path.is_file() or sha256_file(upload.path) != upload.sha256:
        raise _changed(upload, when)


def _changed(upload: Upload, when: str) -> PublishError:
    return PublishError(
        f"{upload.path} changed {when} (its sha256 is no longer the SHA256SUMS entry); "
        "nothing more was uploaded. Package again and publish again: identical objects are skipped"
    )


def _client() -> Any:
    """A storage client; missing credentials become an UnreachableError that says what to set."""
    import google.auth.exceptions
    from google.cloud import storage

    try:
        return storage.Client()
    except (google.auth.exceptions.DefaultCredentialsError, OSError) as exc:
        raise UnreachableError(
            f"no Google Cloud credentials ({_first_line(exc)}): run `gcloud auth application-default login`, "
            "or set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file (STORAGE_EMULATOR_HOST for an emulator)"
        ) from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def _upload(bucket: Any, upload: Upload, where: str, retry: Any, *, exists: bool, say: Callable[[str], None]) -> None:
    from google.api_core import exceptions

    size = upload.size
    blob = bucket.blob(upload.name, chunk_size=CHUNK_SIZE if size > RESUMABLE_THRESHOLD else None)
    precondition = {} if exists else {"if_generation_match": 0}
    say(f"uploading {where} ({size:,} bytes{', resumable' if size > RESUMABLE_THRESHOLD else ''})")
    progress_bar = bar_for(size, desc=where, unit="B")
    try:
        with upload.open() as raw:
            reader = _ProgressReader(raw, size, lambda pct: say(f"  {where}: {pct}%"), progress_bar)
            blob.upload_from_file(
                reader, size=size, content_type=upload.content_type, checksum="crc32c", retry=retry, **precondition
            )
    except exceptions.PreconditionFailed as exc:
        raise PublishError(f"{where} appeared while uploading (someone else published it); not overwritten") from exc
    except Exception as exc:
        raise PublishError(
            f"uploading {where} failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}. "
            "Nothing published was changed; run the same publish again to upload what is missing."
        ) from exc
    finally:
        progress_bar.close()


def _checksums(upload: Upload) -> tuple[str, str, str]:
    """Base64 crc32c and md5, as GCS reports them, and the hex sha256 SHA256SUMS records."""
    import google_crc32c

    crc = google_crc32c.Checksum()
    md5 = hashlib.md5()
    sha256 = hashlib.sha256()
    with upload.open() as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            crc.update(block)
            md5.update(block)
            sha256.update(block)
    return base64.b64encode(crc.digest()).decode(), base64.b64encode(md5.digest()).decode(), sha256.hexdigest()


class _ProgressReader:
    """A read-only file wrapper that reports each 10% read."""

    def __init__(self, raw: IO[bytes], size: int, report: Callable[[int], None], progress_bar: Any) -> None:
        self._raw, self._size, self._report, self._bar = raw, max(size, 1), report, progress_bar
        self._done, self._last = 0, 0

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self._done += len(data)
        self._bar.update(len(data))
        pct = min(100, self._done * 100 // self._size)
        if pct >= self._last + 10:
            self._last = pct - pct % 10
            self._report(self._last)
        return data

    def tell(self) -> int:
        return self._raw.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        position = self._raw.seek(offset, whence)
        self._done = position
        return position
