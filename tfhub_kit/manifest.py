"""The schema of `manifest.json`, declared once: export writes it, every later stage reads it.

    manifest = read_manifest(build_root)      # a `Manifest`; raises BuildLayoutError if unusable
    manifest.saved_models["encoder"]["bytes"]
    write_manifest(build_root, manifest)

Top-level fields are typed attributes; the nested sections stay plain JSON mappings whose
keys are documented on each field. A manifest of another `format` is refused with a message
that says to re-export.
"""

from __future__ import annotations

import dataclasses
import json
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfhub_kit import __version__
from tfhub_kit.errors import BuildLayoutError
from tfhub_kit.files import write_json_atomic

MANIFEST_FILE = "manifest.json"
FORMAT = 2


@dataclass(frozen=True)
class Manifest:
    """What a build holds and what later stages need to know about it."""

    handle: str
    """`<publisher>/<name>/<version>`."""
    model: dict[str, Any]
    """The recipe's `model:` section (publisher, name, version, description, license, languages)."""
    recipe: dict[str, Any]
    """{"file", "sha256"} of the recipe that made the build."""
    source: dict[str, Any]
    """{"folder", "model_type", "network_architecture", "files": {relative path: sha256}}."""
    seq_length: int
    vocab_size: int
    special_tokens: dict[str, int]
    """TF Hub's special-token names (padding_id, start_of_sequence_id, ...) -> ids."""
    saved_models: dict[str, dict[str, Any]]
    """kind -> {"path", "bytes", "signatures", and per kind "parameters", "dim", "pooling", ...}."""
    probes: dict[str, Any]
    """{"sentences": [...], and the outputs recorded at export per kind}."""
    versions: dict[str, str]
    tokenizer: dict[str, str] = field(default_factory=lambda: {"family": "wordpiece", "packing": "bert"})
    """{"family": wordpiece | sentencepiece | bytepair, "packing": bert | roberta}."""
    transforms: dict[str, Any] = field(default_factory=lambda: {"steps": []})
    """{"steps": [one report per transform]}."""
    training: dict[str, Any] | None = None
    """For trained models: run id, checkpoint, steps, objectives, data hashes, final figures."""
    inputs: dict[str, Any] | None = None
    """{"sha256", "files": {...}, "versions": {...}}: what the build was made from; an export
    with the same inputs reuses the build."""
    keras_preset: dict[str, Any] | None = None
    """{"path", "backbone", "tokenizer", "files", "bytes", "parity", "note"} when the build has a
    keras-hub preset (keras_preset/)."""
    validate: dict[str, Any] = field(default_factory=dict)
    evaluate: dict[str, Any] = field(default_factory=lambda: {"sts": [], "bitext": [], "speed": {}})
    """The recipe's `evaluate:` section with absolute data paths."""
    docs: dict[str, Any] = field(default_factory=dict)
    publish: dict[str, Any] = field(default_factory=dict)
    format: int = FORMAT

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any], *, file: Path | str = MANIFEST_FILE) -> Manifest:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            found = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise BuildLayoutError(
                f"{file}: manifest format {found!r}, this tfhub-kit reads format {FORMAT}; "
                "re-run `tfhub-kit export RECIPE_DIR`"
            )
        names = {f.name for f in dataclasses.fields(cls)}
        required = {f.name for f in dataclasses.fields(cls) if _required(f)}
        missing = sorted(required - set(data))
        if missing:
            raise BuildLayoutError(f"{file}: the manifest lacks {', '.join(missing)}; re-run `tfhub-kit export`")
        return cls(**{k: v for k, v in data.items() if k in names})


def read_manifest(root: Path) -> Manifest:
    """The manifest of the build at `root`; `BuildLayoutError` if it is missing or unreadable."""
    file = Path(root) / MANIFEST_FILE
    if not file.is_file():
        raise BuildLayoutError(
            f"{root}: not a finished build (no {MANIFEST_FILE}); run `tfhub-kit export RECIPE_DIR` first"
        )
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BuildLayoutError(f"{file}: not valid JSON ({exc}); re-run `tfhub-kit export`") from exc
    return Manifest.from_json(data, file=file)


def write_manifest(root: Path, manifest: Manifest) -> None:
    """Write `root/manifest.json` atomically (temp file, then rename)."""
    try:
        write_json_atomic(Path(root) / MANIFEST_FILE, manifest.to_json(), strict=True)
    except ValueError as exc:  # NaN or Infinity: not JSON, and a broken model
        raise BuildLayoutError(
            f"{root}: the manifest would hold NaN or Infinity ({exc}); the model's outputs are not finite"
        ) from exc


def _required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def library_versions() -> dict[str, str]:
    """The kit, Python and library versions a build records (an export of other versions is a new build)."""
    from importlib.metadata import version

    versions = {"tfhub_kit": __version__, "python": platform.python_version()}
    for dist in ("tensorflow", "tensorflow-text", "keras", "keras-hub"):
        versions[dist] = version(dist)
    return versions
