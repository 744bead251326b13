"""Publish targets, chosen by the URL scheme of `--to`: one registry for the CLI and `release`.

    target = target_for("gs://my-bucket/hub")           # raises TargetError for an unknown scheme
    plan = target.plan(build_dir, url, asset_base)       # what would be uploaded (checks the build)
    print(plan.describe())
    target.publish(plan, progress=..., retry_deadline=120)

A new target is one `Target` entry in `TARGETS`: how to check its URL, what the docs'
`asset-path` base is for it, how to plan and how to upload.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfhub_kit.errors import TargetError
from tfhub_kit.manifest import Manifest
from tfhub_kit.publish import gcs, kaggle


@dataclass(frozen=True)
class Target:
    """How one kind of storage takes a release."""

    scheme: str
    forms: str
    """The accepted URL forms, for help texts and errors."""
    check_url: Callable[[str], Any]
    """Raises `TargetError` naming the accepted forms for a malformed URL."""
    asset_base: Callable[[str, Manifest], str | None]
    """The base URL the tarballs will be served from (the docs' `asset-path`), or None."""
    plan: Callable[[str | Path, str, str | None], Any]
    """(build_dir, url, asset_base) -> a plan with `describe()` and `public_urls` (kind -> URL)."""
    publish: Callable[..., Any]
    """(plan, *, progress, retry_deadline) -> what was uploaded."""


def _gcs_asset_base(url: str, manifest: Manifest) -> str | None:
    bucket, prefix = gcs.parse_gcs_url(url)
    return (manifest.publish or {}).get(
        "public_url_base"
    ) or f"https://storage.googleapis.com/{bucket}/{prefix}".rstrip("/")


TARGETS: dict[str, Target] = {
    "gs": Target(
        scheme="gs",
        forms="gs://BUCKET/PREFIX",
        check_url=gcs.parse_gcs_url,
        asset_base=_gcs_asset_base,
        plan=lambda build, url, base: gcs.plan_gcs(build, url, public_url_base=base),
        publish=lambda plan, *, progress=None, retry_deadline=120.0: gcs.publish_gcs(
            plan, progress=progress, retry_deadline=retry_deadline
        ),
    ),
    "kaggle": Target(
        scheme="kaggle",
        forms=f"kaggle://OWNER/MODEL/{kaggle.FRAMEWORK}/VARIATION or kaggle://OWNER/MODEL/{kaggle.KERAS}/VARIATION",
        check_url=kaggle.parse_kaggle_url,
        asset_base=lambda _url, _manifest: None,
        plan=lambda build, url, _base: kaggle.plan_kaggle(build, url),
        publish=lambda plan, *, progress=None, retry_deadline=120.0: kaggle.publish_kaggle(plan, progress=progress),
    ),
}

FORMS = ", ".join(t.forms for t in TARGETS.values())


def target_for(url: str) -> Target:
    """The target whose scheme `url` uses, its URL checked; `TargetError` (exit 2) otherwise."""
    scheme = url.split("://", 1)[0] if "://" in url else ""
    target = TARGETS.get(scheme)
    if target is None:
        raise TargetError(f"no publish target for {url!r}; expected {FORMS}")
    target.check_url(url)
    return target
