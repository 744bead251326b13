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
