"""mkdocs hook: publish the repository's BENCHMARKS.md and CHANGELOG.md as site pages.

They live at the repository root (where people look for them); the site shows the same files,
so there is one copy of each.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
PAGES = {"benchmarks.md": "BENCHMARKS.md", "changelog.md": "CHANGELOG.md"}


def on_files(files: Files, config) -> Files:  # type: ignore[no-untyped-def]
    for page, source in PAGES.items():
        files.append(File.generated(config, page, content=(ROOT / source).read_text(encoding="utf-8")))
    return files
