"""Lint tfhub.dev markdown by the rules of tfhub.dev's own validator (tools/validator.py).

    errors = lint_tree("build/tfhub-kit/all_minilm_l6_v2/1/docs")   # [] when clean

Checked against real tfhub.dev pages in `tests/fixtures/tfhub_dev/`; the allowed tag values
are tfhub.dev's `tags/*.yaml`, shipped as `tfhub_kit/data/tfhub_tags.yaml`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

REQUIRED_MODULE_TAGS = ("asset-path", "task", "fine-tunable", "format")
OPTIONAL_MODULE_TAGS = ("network-architecture", "dataset", "language", "license", "colab", "interactive-visualizer")
REPEATABLE_TAGS = ("dataset", "language", "task", "network-architecture")
FORMATS = ("saved_model_2", "saved_model", "hub", "tfjs", "lite", "coral")


@dataclass(frozen=True)
class LintError:
    file: str
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: [{self.rule}] {self.message}"


_PATHS = (
    ("publisher", re.compile(r"^assets/docs/(?P<pub>[a-z\d-]+)/(?P=pub)\.md$")),
    ("module", re.compile(r"^assets/docs/(?P<pub>[a-z\d-]+)/models/(?P<name>[\w.-]+(?:/[\w.-]+)*)/(?P<ver>\d+)\.md$")),
    (
        "collection",
        re.compile(r"^assets/docs/(?P<pub>[a-z\d-]+)/collections/(?P<name>[\w.-]+(?:/[\w.-]+)*)/(?P<ver>\d+)\.md$"),
    ),
)
_META = re.compile(r"^<!--(?P<key>(\w|\s|-)+):(?P<value>.+)-->$")  # tools/validator.py's pattern
_HUB_LINK = re.compile(r"https://tfhub\.dev/(?P<handle>[a-z\d-]+/[\w.-]+(?:/[\w.-]+)*/\d+)")


@cache
def allowed_tag_values() -> dict[str, frozenset[str]]:
    """tfhub.dev's enumerated tag values, shipped as package data."""
    import yaml

    text = resources.files("tfhub_kit").joinpath("data/tfhub_tags.yaml").read_text(encoding="utf-8")
    return {key: frozenset(values) for key, values in yaml.safe_load(text).items()}


def lint_tree(root: str | Path) -> list[LintError]:
    """Lint every markdown file under `root/assets/docs` (a docs tree as in the tfhub.dev repo)."""
    root = Path(root)
    docs_root = root / "assets" / "docs"
    if not docs_root.is_dir():
        return [LintError(str(root), 0, "layout", "no assets/docs/ folder here (expected a tfhub.dev docs tree)")]
    files = sorted(docs_root.rglob("*.md"))
    handles_with_docs = set()
    for path in files:
        m = _PATHS[1][1].match(path.relative_to(root).as_posix())
        if m:
            handles_with_docs.add(f"{m['pub']}/{m['name']}/{m['ver']}")
    errors: list[LintError] = []
    for path in files:
        errors += lint_file(path, root, handles_with_docs)
    return errors


def lint_file(path: Path, root: Path, handles_with_docs: set[str] | frozenset[str] = frozenset()) -> list[LintError]:
    relative = path.relative_to(root).as_posix()
    errors: list[LintError] = []

    def error(line: int, rule: str, message: str) -> None:
        errors.append(LintError(relative, line, rule, message))

    kind, match = next(((k, p.match(relative)) for k, p in _PATHS if p.match(relative)), (None, None))
    if kind is None or match is None:
        error(
            0,
            "path",
            "not a valid doc path: assets/docs/<publisher>/<publisher>.md, .../models/<name>/<version>.md "
            "or .../collections/<name>/<version>.md (publisher [a-z\\d-]+, version digits)",
        )
        return errors
    pub = match["pub"]
    if not (root / "assets" / "docs" / pub / f"{pub}.md").is_file():
        error(0, "publisher-page", f"publisher page assets/docs/{pub}/{pub}.md is missing")
    lines = path.read_text(encoding="utf-8").split("\n")
    for number, line in enumerate(lines, 1):
        if line != line.rstrip():
            error(number, "trailing-space", "line ends with white space")
    expected = {
        "publisher": f"# Publisher {pub}",
        "module": f"# Module {pub}/{match.groupdict().get('name')}/{match.groupdict().get('ver')}",
        "collection": f"# Collection {pub}/{match.groupdict().get('name')}/{match.groupdict().get('ver')}",
    }[kind]
    if lines[0] not in (expected, "# Placeholder"):
        error(1, "first-line", f"line 1 must be exactly {expected!r}, found {lines[0]!r}")
        return errors
    # Description and metadata are read exactly as tfhub.dev's tools/validator.py reads them:
    # one blank line may follow line 1; the description runs to the first blank line or
    # "<!--" line; then, up to the first line starting with "#", only blank lines,
    # metadata comments and an "[![Icon URL]]" line may appear.
    number = 2 if len(lines) > 2 and not lines[1] else 1
    description: list[tuple[int, str]] = []
    while number < len(lines) and lines[number] and not lines[number].startswith("<!--"):
        description.append((number + 1, lines[number]))
        number += 1
    if not description:
        error(2, "description", "a short description must follow on line 2 (or line 3 after a blank line)")
        return errors
    for line_number, line in description[1:]:
        if line.startswith("#"):
            error(
                line_number,
                "description",
                f"the heading {line!r} is read as part of the description: leave a blank line before it",
            )
    tags: dict[str, list[tuple[int, str]]] = {}
    while number < len(lines) and not lines[number].startswith("#"):
        line = lines[number]
        meta = _META.match(line)
        if meta:
            tags.setdefault(meta["key"].strip(), []).append((number + 1, meta["value"].strip()))
        elif line and not line.startswith("[![Icon URL]]"):
            error(
                number + 1,
                "metadata-block",
                f"unexpected line {line!r}: before the first heading only blank lines, "
                "'<!-- key: value -->' metadata and an '[![Icon URL]](...)' line may follow the description",
            )
        number += 1
    if kind == "publisher":
        for key, values in tags.items():
            error(values[0][0], "publisher-tags", f"a publisher page carries no tags, found {key!r}")
    else:
        errors += _lint_tags(relative, kind, tags)
    if kind == "collection":
        body = "\n".join(lines[number:])
        linked = [m["handle"] for m in _HUB_LINK.finditer(body)]
        if not any(handle in handles_with_docs for handle in linked):
            error(
                number + 1,
                "collection-links",
                "a collection must link at least one https://tfhub.dev/<publisher>/<name>/<version> that has a doc",
            )
    return errors


def _lint_tags(relative: str, kind: str, tags: dict[str, list[tuple[int, str]]]) -> list[LintError]:
    errors: list[LintError] = []
    allowed = allowed_tag_values()
    known = set(REQUIRED_MODULE_TAGS) | set(OPTIONAL_MODULE_TAGS)
    if kind == "module":
        for key in REQUIRED_MODULE_TAGS:
            if key not in tags:
                errors.append(LintError(relative, 0, "required-tag", f"missing required tag '<!-- {key}: ... -->'"))
    for key, values in tags.items():
        line = values[0][0]
        if key == "module-type":
            errors.append(LintError(relative, line, "obsolete-tag", "'module-type' is obsolete; use 'task'"))
            continue
        if key not in known or (kind == "collection" and key == "asset-path"):
            errors.append(
                LintError(relative, line, "unknown-tag", f"unknown tag {key!r} (allowed: {', '.join(sorted(known))})")
            )
            continue
        if key not in REPEATABLE_TAGS and len(values) > 1:
            errors.append(LintError(relative, values[1][0], "repeated-tag", f"tag {key!r} may appear once"))
        for number, value in values:
            problem = _tag_problem(key, value, allowed)
            if problem:
                errors.append(LintError(relative, number, f"tag-{key}", problem))
    return errors


def _tag_problem(key: str, value: str, allowed: dict[str, frozenset[str]]) -> str | None:
    if key in allowed and value not in allowed[key]:
        return f"{value!r} is not an allowed {key} (see tfhub_kit/data/tfhub_tags.yaml)"
    if key == "asset-path":
        if not value.endswith(".tar.gz"):
            return f"asset-path must end with .tar.gz, found {value!r}"
        if "github.com" in value:
            return "asset-path must not be a github.com URL"
    if key == "fine-tunable" and value not in ("true", "false"):
        return f"fine-tunable must be true or false, found {value!r}"
    if key == "format" and value not in FORMATS:
        return f"format must be one of {', '.join(FORMATS)}, found {value!r}"
    if key == "colab" and not value.startswith("https://colab.research.google.com/"):
        return "colab must be an https://colab.research.google.com/ URL"
    return None
