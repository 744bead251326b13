"""Generated tfhub.dev docs pass tfhub.dev's rules, and their examples run."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile

import pytest
from click.testing import CliRunner
from conftest import ROOT
from helpers import copy_build, run_python, serve_in_thread

from tfhub_kit.cli import main
from tfhub_kit.docs import lint_tree, render_docs

MODULE = "assets/docs/acme/models/enc/1.md"
GOOD_MODULE = """# Module acme/enc/1
A text encoder.

<!-- asset-path: https://storage.googleapis.com/b/acme/enc/1.tar.gz -->
<!-- task: text-embedding -->
<!-- fine-tunable: true -->
<!-- format: saved_model_2 -->
<!-- language: en -->
<!-- language: de -->

## Overview

Text.
"""


def test_sample_docs_pass_lint(minilm_build, tmp_path):
    result = render_docs(copy_build(minilm_build, tmp_path).root)
    names = sorted(p.relative_to(result.root).as_posix() for p in result.files)
    assert names == [
        "assets/docs/tfhub-kit/collections/sentence_encoders/1.md",
        "assets/docs/tfhub-kit/models/all_minilm_l6_v2/1.md",
        "assets/docs/tfhub-kit/models/all_minilm_l6_v2_encoder/1.md",
        "assets/docs/tfhub-kit/models/all_minilm_l6_v2_preprocess/1.md",
        "assets/docs/tfhub-kit/tfhub-kit.md",
        "kaggle/all_minilm_l6_v2.md",
    ]
    assert lint_tree(result.root) == []
    encoder = (result.root / names[2]).read_text()
    assert "tfhub-kit/all_minilm_l6_v2_preprocess/1" in encoder  # the encoder names its preprocessor
    for section in (
        "## Overview",
        "## Model size",
        "## Evaluation results",
        "## Example use",
        "## Output details",
        "## References",
    ):
        assert section in encoder
    assert (
        "<!-- asset-path: https://storage.googleapis.com/tfhub-kit-models/hub/tfhub-kit/all_minilm_l6_v2_encoder/1.tar.gz -->"
        in encoder
    )
    cli = CliRunner().invoke(main, ["docs", "--check", str(result.root)])
    assert cli.exit_code == 0 and "0 problems" in cli.output


def _lint(tmp_path, text, path=MODULE, publisher=True):
    (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / path).write_text(text)
    if publisher:
        (tmp_path / "assets/docs/acme/acme.md").write_text("# Publisher acme\nAcme models.\n\n## Acme\n")
    return [(e.file, e.line, e.rule) for e in lint_tree(tmp_path)]


def test_good_module_doc_is_clean(tmp_path):
    assert _lint(tmp_path, GOOD_MODULE) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda t: t.replace("# Module acme/enc/1", "# Module acme/other/1"), (MODULE, 1, "first-line")),
        (lambda t: t.replace("A text encoder.", "<!-- task: text-embedding -->"), (MODULE, 2, "description")),
        (lambda t: t.replace("<!-- format: saved_model_2 -->\n", ""), (MODULE, 0, "required-tag")),
        (
            lambda t: t.replace("<!-- language: de -->", "<!-- module-type: text-embedding -->"),
            (MODULE, 9, "obsolete-tag"),
        ),
        (lambda t: t.replace("<!-- language: de -->", "<!-- license: gpl-9 -->"), (MODULE, 9, "tag-license")),
        (lambda t: t.replace("<!-- language: de -->", "<!-- format: saved_model -->"), (MODULE, 9, "repeated-tag")),
        (lambda t: t.replace("1.tar.gz", "1.zip"), (MODULE, 4, "tag-asset-path")),
        (lambda t: t.replace("storage.googleapis.com/b", "github.com/acme"), (MODULE, 4, "tag-asset-path")),
        (lambda t: t.replace("<!-- language: de -->", "Some prose."), (MODULE, 9, "metadata-block")),
        (lambda t: t.replace("<!-- language: de -->", "<!-- language: klingon -->"), (MODULE, 9, "tag-language")),
        (
            lambda t: t.replace("<!-- language: de -->", "<!-- colab: http://example.com/x -->"),
            (MODULE, 9, "tag-colab"),
        ),
        (lambda t: t.replace("A text encoder.", "A text encoder. "), (MODULE, 2, "trailing-space")),
        (lambda t: t.replace("true", "yes"), (MODULE, 6, "tag-fine-tunable")),
    ],
)
def test_each_rule_is_enforced(tmp_path, change, expected):
    assert expected in _lint(tmp_path, change(GOOD_MODULE))


def test_publisher_page_required_and_tagless(tmp_path):
    assert (MODULE, 0, "publisher-page") in _lint(tmp_path, GOOD_MODULE, publisher=False)
    page = "assets/docs/acme/acme.md"
    assert (page, 3, "publisher-tags") in _lint(
        tmp_path / "x", "# Publisher acme\nAcme.\n<!-- task: text-embedding -->\n", path=page, publisher=False
    )


def test_collection_must_link_a_documented_model(tmp_path):
    coll = "assets/docs/acme/collections/family/1.md"
    _lint(tmp_path, GOOD_MODULE)
    text = "# Collection acme/family/1\nA family.\n\n## Models\n\n[x](https://tfhub.dev/acme/unknown/1)\n"
    assert (coll, 4, "collection-links") in _lint(tmp_path, text, path=coll)
    assert _lint(tmp_path, text.replace("unknown", "enc"), path=coll) == []


def test_check_command_reports_file_line_rule(tmp_path):
    _lint(tmp_path, GOOD_MODULE.replace("<!-- language: de -->", "<!-- module-type: text-embedding -->"))
    result = CliRunner().invoke(main, ["docs", "--check", str(tmp_path)])
    assert result.exit_code == 1
    assert f"{MODULE}:9: [obsolete-tag] 'module-type' is obsolete; use 'task'" in result.output


def test_modules_templates_and_tag_lists_are_in_the_wheel(tmp_path):
    """The top-level templates/ ships as tfhub_kit.templates, and the hand-made package list
    in setup.cfg leaves out no module."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
    )
    (wheel,) = tmp_path.glob("tfhub_kit-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for template in ("embedding", "encoder", "preprocess", "publisher", "collection", "kaggle", "_model"):
        assert f"tfhub_kit/templates/{template}.md.j2" in names
    assert "tfhub_kit/data/tfhub_tags.yaml" in names
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "tfhub_kit").rglob("*.py")}
    assert modules and not modules - set(names), f"missing from the wheel: {sorted(modules - set(names))}"


def test_generated_examples_run_as_written(minilm_packaged, tmp_path):
    build = copy_build(minilm_packaged, tmp_path / "build")
    server, url = serve_in_thread(build.root)
    try:
        result = render_docs(build.root, asset_base=url)
        outputs = {}
        for name in ("all_minilm_l6_v2", "all_minilm_l6_v2_encoder", "all_minilm_l6_v2_preprocess"):
            page = (result.root / f"assets/docs/tfhub-kit/models/{name}/1.md").read_text()
            code = re.search(r"## Example use.*?```python\n(.*?)```", page, re.DOTALL).group(1)
            assert url in code
            outputs[name] = run_python(code, env={"TFHUB_CACHE_DIR": str(tmp_path / "cache")})
    finally:
        server.shutdown()
        server.server_close()
    assert "embeddings: (2, 384)" in outputs["all_minilm_l6_v2"]
    assert 0.3 < float(outputs["all_minilm_l6_v2"].split("cosine:")[1]) < 1
    assert "pooled_output: (2, 384)" in outputs["all_minilm_l6_v2_encoder"]
    assert "input_word_ids: (1, 256)" in outputs["all_minilm_l6_v2_preprocess"]
    assert "packed: [[0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]]" in outputs["all_minilm_l6_v2_preprocess"]
