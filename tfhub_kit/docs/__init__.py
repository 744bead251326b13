"""Docs stage: tfhub.dev markdown (and a Kaggle model card) for a build, linted by
tfhub.dev's own rules.

    result = render_docs("build/tfhub-kit/all_minilm_l6_v2/1")
    errors = lint_tree("build/tfhub-kit/all_minilm_l6_v2/1/docs")   # [] when clean

`render` fills the templates, `lint` applies tfhub.dev's rules to any docs tree.
"""

from tfhub_kit.docs.lint import LintError, allowed_tag_values, lint_file, lint_tree
from tfhub_kit.docs.render import DocsResult, default_asset_base, doc_pages, render_docs, usage_example

__all__ = [
    "DocsResult",
    "LintError",
    "allowed_tag_values",
    "default_asset_base",
    "doc_pages",
    "lint_file",
    "lint_tree",
    "render_docs",
    "usage_example",
]
