"""Publish a build to Kaggle Models: SavedModels as TensorFlow 2 variations, the keras-hub
preset as a Keras variation.

    plan = plan_kaggle("build/tfhub-kit/all_minilm_l6_v2/1", "kaggle://acme/all-minilm-l6-v2/tensorFlow2/default")
    publish_kaggle(plan)    # kagglehub.model_upload(handle, saved_model_dir, license_name=..., version_notes=...)

    plan = plan_kaggle(build, "kaggle://acme/all-minilm-l6-v2/keras/default")
    publish_kaggle(plan)    # keras_hub.upload_preset("kaggle://acme/all-minilm-l6-v2/keras/default", keras_preset_dir)

For `tensorFlow2` the headline SavedModel goes to the named variation, the others to
`<variation>-encoder` / `<variation>-preprocess`; Kaggle takes uncompressed SavedModel
folders. For `keras` the build's `keras_preset/` goes to the named variation with keras-hub's
`upload_preset`, which checks the preset before uploading. The model card
(docs/kaggle/<model>.md, from `tfhub-kit docs`) is the model's description on Kaggle.
New Kaggle models are created private.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tfhub_kit.errors import BuildLayoutError, PublishError, TargetError, UnreachableError
from tfhub_kit.layout import BuildLayout, model_names
from tfhub_kit.progress import reporter

KAGGLE_URL = re.compile(
    r"^kaggle://(?P<owner>[a-z0-9][a-z0-9-]{2,})/(?P<model>[a-z0-9][a-z0-9-]{2,})/(?P<framework>[A-Za-z0-9]+)/(?P<variation>[a-z0-9][a-z0-9-]*)$"
)
FRAMEWORK = "tensorFlow2"
KERAS = "keras"
LICENSES = {
    "apache-2.0": "Apache 2.0",
    "mit": "MIT",
    "bsd-3-clause": "BSD-3-Clause",
    "gpl-3.0": "GPL 3",
    "cc-by-nc-4.0": "CC BY-NC 4.0",
}


@dataclass(frozen=True)
class KaggleUpload:
    handle: str
    """owner/model/framework/variation, as kagglehub.model_upload takes it."""
    framework: str
    directory: Path
    files: list[str]
    license_name: str
    version_notes: str


@dataclass(frozen=True)
class KagglePlan:
    uploads: list[KaggleUpload]
    card: Path

    @property
    def public_urls(self) -> dict[str, str]:
        """Kaggle models are found by handle, not by a tarball URL: none (as `GcsPlan.public_urls`)."""
        return {}

    def describe(self) -> str:
        lines = ["publish to Kaggle Models (new models are created private)"]
        for u in self.uploads:
            lines.append(f"  {u.handle}  <- {u.directory} ({len(u.files)} files, license {u.license_name!r})")
        lines.append(f"  model card: {self.card}")
        return "\n".join(lines)


def parse_kaggle_url(url: str) -> dict[str, str]:
    match = KAGGLE_URL.match(url)
    if not match:
        raise TargetError(
            f"not a Kaggle model location: {url!r}; expected kaggle://OWNER/MODEL/{FRAMEWORK}/VARIATION "
            f"or kaggle://OWNER/MODEL/{KERAS}/VARIATION "
            "(lowercase letters, digits and '-'; owner and model at least 3 characters)"
        )
    if match["framework"] not in (FRAMEWORK, KERAS):
        raise TargetError(
            f"{url}: framework must be {FRAMEWORK!r} (the SavedModels) or {KERAS!r} (the keras-hub preset), "
            f"got {match['framework']!r}"
        )
    return match.groupdict()


def plan_kaggle(build_dir: str | Path, target: str) -> KagglePlan:
    parts = parse_kaggle_url(target)
    layout = BuildLayout(Path(build_dir))
    manifest = layout.read_manifest()
    license_id = manifest.model["license"]
    if license_id not in LICENSES:
        raise PublishError(f"license {license_id!r} has no Kaggle equivalent here; allowed: {', '.join(LICENSES)}")
    card = layout.docs / "kaggle" / f"{manifest.model['name']}.md"
    if not card.is_file():
        raise BuildLayoutError(f"{card} is missing; run `tfhub-kit docs {layout.root}` first")
    notes = f"{manifest.handle} (%s), recipe sha256 {manifest.recipe['sha256'][:12]}"
    if parts["framework"] == KERAS:
        if manifest.keras_preset is None:
            raise PublishError(
                f"{layout.root} has no keras_preset/ to publish to {target}; add keras_preset to the recipe's "
                "export.saved_models and re-run `tfhub-kit export`"
            )
        directory = layout.root / manifest.keras_preset["path"]
        upload = KaggleUpload(
            handle=f"{parts['owner']}/{parts['model']}/{KERAS}/{parts['variation']}",
            framework=KERAS,
            directory=directory,
            files=_files(directory),
            license_name=LICENSES[license_id],
            version_notes=notes % "keras-hub preset",
        )
        return KagglePlan(uploads=[upload], card=card)
    uploads = []
    for i, kind in enumerate(model_names(manifest)):
        variation = parts["variation"] if i == 0 else f"{parts['variation']}-{kind}"
        directory = layout.saved_model(kind)
        uploads.append(
            KaggleUpload(
                handle=f"{parts['owner']}/{parts['model']}/{FRAMEWORK}/{variation}",
                framework=FRAMEWORK,
                directory=directory,
                files=_files(directory),
                license_name=LICENSES[license_id],
                version_notes=notes % kind,
            )
        )
    return KagglePlan(uploads=uploads, card=card)


def _files(directory: Path) -> list[str]:
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file())


def publish_kaggle(plan: KagglePlan, *, progress: Callable[[str], None] | None = None) -> None:
    say = reporter(progress)
    try:
        import kagglehub
    except ImportError as exc:
        raise UnreachableError("publishing to Kaggle needs kagglehub: pip install 'tfhub-kit[kaggle]'") from exc
    for upload in plan.uploads:
        say(f"uploading {upload.directory} to Kaggle {upload.handle}")
        try:
            if upload.framework == KERAS:
                import keras_hub

                keras_hub.upload_preset(f"kaggle://{upload.handle}", str(upload.directory))
                continue
            kagglehub.model_upload(
                upload.handle,
                str(upload.directory),
                license_name=upload.license_name,
                version_notes=upload.version_notes,
            )
        except Exception as exc:
            raise UnreachableError(f"Kaggle upload of {upload.handle} failed: {exc}") from exc
