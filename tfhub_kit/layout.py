"""The on-disk layout of a build, declared once: every stage finds its inputs here.

build/<publisher>/<model>/          ModelLayout: what all versions of a model share
  .cache/                           token counts, teacher vectors
  runs/<run-id>/                    training runs: ckpt/, logs/ (TensorBoard), train.json
  corpus/                           pretraining shards (tfhub-kit data prepare), corpus.json
build/<publisher>/<model>/<version>/  BuildLayout: one export, swapped into place atomically
  encoder/ preprocess/ embedding/   SavedModels (whichever the recipe exports)
  model2vec/                        a static model in model2vec's folder format
  manifest.json                     written last by export; its presence marks a build
  validation.json results.json      validate / evaluate reports
  docs/ dist/                       tfhub.dev markdown; tarballs + SHA256SUMS
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfhub_kit.errors import BuildLayoutError
from tfhub_kit.manifest import MANIFEST_FILE, Manifest, read_manifest

SAVED_MODEL_FILE = "saved_model.pb"
CHECKSUMS_FILE = "SHA256SUMS"
KIND_ORDER = ("embedding", "encoder", "preprocess", "text_generation")


@dataclass(frozen=True)
class ModelLayout:
    """The folder all versions of one model share: caches and training runs."""

    root: Path

    @classmethod
    def for_recipe(cls, out_dir: str | Path, recipe: Any) -> ModelLayout:
        return cls(Path(out_dir) / recipe.model.publisher / recipe.model.name)

    @property
    def cache(self) -> Path:
        return self.root / ".cache"

    def run(self, run_id: str) -> Path:
        """A training run's folder: ckpt/, logs/, train.json."""
        return self.root / "runs" / run_id

    @property
    def corpus(self) -> Path:
        """Prepared pretraining data: TFRecord shards and corpus.json."""
        return self.root / "corpus"


@dataclass(frozen=True)
class BuildLayout:
    root: Path

    @classmethod
    def for_handle(cls, out_dir: str | Path, publisher: str, name: str, version: int) -> BuildLayout:
        return cls(Path(out_dir) / publisher / name / str(version))

    def saved_model(self, kind: str) -> Path:
        return self.root / kind

    @property
    def manifest_file(self) -> Path:
        return self.root / MANIFEST_FILE

    @property
    def dist(self) -> Path:
        """Tarballs laid out as hub URLs: dist/<publisher>/<model>/<version>.tar.gz."""
        return self.root / "dist"

    @property
    def docs(self) -> Path:
        """tfhub.dev docs, laid out as in the tfhub.dev repository: docs/assets/docs/..."""
        return self.root / "docs"

    def tarball(self, manifest: Manifest, kind: str) -> Path:
        return self.dist / model_path(manifest, kind)

    def read_manifest(self) -> Manifest:
        """The export manifest; raises `BuildLayoutError` if this is not a finished build."""
        manifest = read_manifest(self.root)
        missing = [kind for kind in manifest.saved_models if not (self.saved_model(kind) / SAVED_MODEL_FILE).is_file()]
        if missing:
            raise BuildLayoutError(
                f"{self.root}: the manifest lists SavedModels that are missing: {', '.join(missing)}"
            )
        return manifest


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote (or found up to date): the build and its manifest."""

    layout: BuildLayout
    manifest: Manifest


def swap_into_place(tmp: Path, final: Path) -> None:
    """Rename the finished folder `tmp` to `final`, replacing an older `final`. Crash-safe:
    the older folder is parked as `.<name>.old-<pid>` between the two renames, and
    `recover_stale(final)` (run before the next write) puts it back or removes it."""
    import shutil

    old = final.with_name(f".{final.name}.old-{os.getpid()}")
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def recover_stale(final: Path, say: Callable[[str], None] | None = None) -> None:
    """Clean up after a killed run that was writing `final`: remove its temp folders
    (`.<name>.tmp-<pid>` of dead processes) and, for a crash between the two renames of
    `swap_into_place`, restore the parked older folder if `final` is missing."""
    import shutil

    if not final.parent.is_dir():
        return
    for path in sorted(final.parent.glob(f".{final.name}.*-*")):
        kind, _, pid = path.name.rpartition("-")
        if not pid.isdigit() or _alive(int(pid)) or not kind.endswith((".tmp", ".old")):
            continue
        if kind.endswith(".old") and not final.exists():
            path.rename(final)
            if say:
                say(f"restored {final} from an interrupted run")
        else:
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
            if say:
                say(f"removed {path.name} left by an interrupted run")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def model_names(manifest: Manifest) -> dict[str, str]:
    """The published model name of each SavedModel in a build.

    The headline model (the one-piece embedding model if exported, else the encoder) keeps
    the recipe's name; the others get `_encoder` / `_preprocess` appended.
    """
    name = manifest.model["name"]
    kinds = [k for k in KIND_ORDER if k in manifest.saved_models]
    return {kind: name if i == 0 else f"{name}_{kind}" for i, kind in enumerate(kinds)}


def model_path(manifest: Manifest, kind: str) -> str:
    """`<publisher>/<model>/<version>.tar.gz`: the tarball's path under dist/, GCS and hub URLs."""
    model = manifest.model
    return f"{model['publisher']}/{model_names(manifest)[kind]}/{model['version']}.tar.gz"


def results_png_path(manifest: Manifest) -> str:
    """`<publisher>/<headline model>/<version>.results.png`: where publish puts evaluate's
    picture, under GCS and the docs' asset URL."""
    model = manifest.model
    headline = next(iter(model_names(manifest).values()))
    return f"{model['publisher']}/{headline}/{model['version']}.results.png"
