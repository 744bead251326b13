"""The docs lint reads pages as tfhub.dev's own tools/validator.py does: it accepts real
pages from the tensorflow/tfhub.dev repository (tests/fixtures/tfhub_dev) and rejects each
of them after one rule is broken."""

from __future__ import annotations

import shutil

import pytest
from conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "tfhub_dev"
PUBLISHER = "assets/docs/jeongukjae/jeongukjae.md"
PREPROCESS = "assets/docs/jeongukjae/models/klue_roberta_cased_preprocess/1.md"
ENCODER = "assets/docs/jeongukjae/models/klue_roberta_cased_L-12_H-768_A-12/1.md"


def test_real_tfhub_dev_pages_pass():
    from tfhub_kit.docs import lint_tree

    assert lint_tree(FIXTURES) == []


BREAKS = [
    # (file, old text, new text, rule)
    (PUBLISHER, "Ukjae Jeong\n\n[![Icon", "Ukjae Jeong\n[![Icon", None),  # icon may follow directly: still fine
    # the page tfhub.dev rejected: a heading glued to the description swallows it
    (
        PUBLISHER,
        "Ukjae Jeong\n\n[![Icon URL]](https://github.com/jeongukjae.png)\n\n## Ukjae",
        "Ukjae Jeong\n## Ukjae",
        "description metadata-block",
    ),
    (PUBLISHER, "\n\n## Ukjae Jeong\n\nMachine", "\n\nMachine learning.\n## Ukjae Jeong\n\nMachine", "metadata-block"),
    (PREPROCESS, "\nText preprocessing model for KLUE-RoBERTa.\n", "\n\n", "description"),
    (PREPROCESS, "<!-- language: ko -->\n", "<!-- language: ko -->\nA stray line.\n", "metadata-block"),
    (PREPROCESS, "<!-- task: text-preprocessing -->\n", "", "required-tag"),
    (PREPROCESS, "<!-- language: ko -->", "<!-- language: klingon -->", "tag-language"),
    (ENCODER, "<!-- format: saved_model_2 -->", "<!-- format: saved_model_3 -->", "tag-format"),
    (ENCODER, "Language.\n\n<!--", "Language.\n## Overview\n<!--", "description"),
    (
        ENCODER,
        "<!-- fine-tunable: true -->",
        "<!-- fine-tunable: true -->\n<!-- fine-tunable: false -->",
        "repeated-tag",
    ),
]


@pytest.mark.parametrize(
    ("file", "old", "new", "rule"), BREAKS, ids=[f"{b[0].split('/')[-2]}-{b[3]}".replace(" ", "+") for b in BREAKS]
)
def test_one_broken_rule_is_caught(file, old, new, rule, tmp_path):
    from tfhub_kit.docs import lint_tree

    tree = tmp_path / "tree"
    shutil.copytree(FIXTURES, tree)
    path = tree / file
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    rules = {e.rule for e in lint_tree(tree)}
    assert rules == set(rule.split() if rule else ()), rules


def test_generated_publisher_page_keeps_its_heading_out_of_the_description(tmp_path):
    """The page tfhub.dev rejected: `## name` right under the description."""
    from tfhub_kit.docs import lint_file

    root = tmp_path / "tree"
    page = root / "assets" / "docs" / "acme" / "acme.md"
    page.parent.mkdir(parents=True)
    page.write_text("# Publisher acme\nModels by Acme.\n## Acme\n\nText encoders republished.\n")
    assert {e.rule for e in lint_file(page, root)} == {"description", "metadata-block"}


PUBLISHER_OVERRIDE = """# Publisher {{ publisher }}
Our own publisher page.

## Acme Research

Restyled by a recipe's docs.templates folder.
"""


def test_a_recipe_template_overrides_the_kit_by_name_and_is_linted(tiny_build, tmp_path):
    import json

    from tfhub_kit.docs import render_docs
    from tfhub_kit.errors import DocsError

    root = tmp_path / "build"
    shutil.copytree(tiny_build.root, root, ignore=shutil.ignore_patterns("docs"))
    overrides = tmp_path / "templates"
    overrides.mkdir()
    (overrides / "publisher.md.j2").write_text(PUBLISHER_OVERRIDE)
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["docs"]["templates"] = str(overrides)
    (root / "manifest.json").write_text(json.dumps(manifest))

    render_docs(root, asset_base="https://example.org/models")
    page = (root / "docs" / "assets" / "docs" / "test" / "test.md").read_text()
    assert "Restyled by a recipe's docs.templates folder." in page
    assert (
        "# Module test/tiny_bert"
        in (root / "docs" / "assets" / "docs" / "test" / "models" / "tiny_bert" / "1.md").read_text()
    )

    (overrides / "publisher.md.j2").write_text(PUBLISHER_OVERRIDE.replace("page.\n\n##", "page.\n##"))
    with pytest.raises(DocsError) as err:
        render_docs(root, asset_base="https://example.org/models")
    assert "description" in str(err.value)


def test_a_templates_folder_with_unknown_names_is_refused(tmp_path):
    import yaml

    from tfhub_kit.errors import RecipeError
    from tfhub_kit.recipe import load_recipe

    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "publisher.md.j2").write_text("x")
    (tmp_path / "mine" / "readme.md.j2").write_text("x")
    recipe = {
        "model": {"publisher": "test", "name": "m", "version": 1, "description": "M."},
        "source": {"scratch": {"vocab": "vocab.txt"}},
        "docs": {"templates": "mine"},
    }
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\n")
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    with pytest.raises(RecipeError) as err:
        load_recipe(tmp_path)
    assert "field 'docs.templates'" in str(err.value) and "readme.md.j2" in str(err.value)
    assert "publisher.md.j2" in str(err.value)  # the allowed names are listed


@pytest.mark.parametrize("recipe_dir", sorted(p.parent for p in (ROOT / "models").glob("*/*/recipe.yaml")), ids=str)
def test_every_sample_recipes_docs_pass_the_lint_with_the_publisher_icon(recipe_dir, minilm_build, tmp_path):
    """Each sample recipe's model, docs and publish sections, rendered over the sample build."""
    import dataclasses

    from tfhub_kit.docs import doc_pages, lint_tree
    from tfhub_kit.manifest import Manifest
    from tfhub_kit.recipe import load_recipe

    recipe = load_recipe(recipe_dir)
    data = minilm_build.read_manifest().to_json()
    data.update(
        handle=recipe.handle,
        model=dataclasses.asdict(recipe.model),
        docs=dataclasses.asdict(recipe.docs),
        publish=dataclasses.asdict(recipe.publish),
    )
    pages = doc_pages(Manifest.from_json(data), None, "https://storage.googleapis.com/tfhub-kit-models/hub")
    for relative, text in pages.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text, encoding="utf-8")
    assert lint_tree(tmp_path) == []
    publisher = (tmp_path / "assets/docs/tfhub-kit/tfhub-kit.md").read_text()
    assert "\n[![Icon URL]](https://github.com/tfhub-kit.png)\n" in publisher
