"""The README's Python example runs as written against a real export."""

from __future__ import annotations

import re

from conftest import ROOT
from helpers import run_python


def readme_example(which: int = 0) -> str:
    """The `which`-th Python block of the README's "Use the exports" section."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Use the exports", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.DOTALL)[which]


def test_readme_opens_with_setup_and_test_commands():
    text = (ROOT / "README.md").read_text()
    first_block = re.search(r"```bash\n(.*?)```", text, re.DOTALL).group(1)
    commands = [line.split("  #")[0].strip() for line in first_block.strip().splitlines()]
    assert commands[0].endswith("tfhub-kit export models/tfhub-kit/all_minilm_l6_v2")
    ci = (ROOT / ".ci" / "run").read_text()
    assert commands[1].split("&& ", 1)[1] in ci


def test_readme_example_runs(minilm_build, tmp_path):
    out_root = minilm_build.root.parents[2]
    (tmp_path / "build").symlink_to(out_root)
    out = run_python(readme_example(), cwd=tmp_path)
    lines = dict(line.split(":", 1) for line in out.strip().splitlines())
    assert 0.3 < float(lines["cosine"]) < 1.0
    assert lines["pooled"].strip() == "(2, 384)"
    assert lines["keras 3"].strip() == "(2, 384)"
    assert lines["keras 3 encoder"].strip() == "(2, 256, 384)"


def test_readme_keras_preset_example_runs(minilm_build, tmp_path):
    (tmp_path / "build").symlink_to(minilm_build.root.parents[2])
    out = run_python(readme_example(1), cwd=tmp_path)
    lines = dict(line.split(":", 1) for line in out.strip().splitlines() if ":" in line)
    assert lines["backbone"].strip() == "BertBackbone 384"
    assert lines["ids"].strip().startswith("[7592")  # "hello" in MiniLM's vocabulary
    assert 0 < float(lines["classifier loss"]) < 10
