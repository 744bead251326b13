"""Release: [train ->] export -> validate -> evaluate -> docs -> package -> publish, stopping at the
first failing stage with its report. A model that fails validation or a threshold is never
published.

    report = release("models/tfhub-kit/all_minilm_l6_v2", to="gs://my-bucket/hub")
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfhub_kit.errors import TfhubKitError


class ReleaseError(TfhubKitError):
    """A stage failed; `stage` names it and `details` lists what failed."""

    def __init__(self, stage: str, details: list[str]) -> None:
        self.stage = stage
        self.details = details
        super().__init__(f"release stopped at {stage}: " + "; ".join(details) + ". Nothing was published.")


@dataclass
class ReleaseReport:
    build_dir: Path
    stages: list[str] = field(default_factory=list)
    public_urls: dict[str, str] = field(default_factory=dict)
    published: Any = None


def release(
    recipe_dir: str | Path,
    *,
    to: str,
    out_dir: str | Path = "build",
    dry_run: bool = False,
    progress: Callable[[str], None] | None = None,
    retry_deadline: float = 120.0,
) -> ReleaseReport:
    from tfhub_kit.docs import render_docs
    from tfhub_kit.evaluate import evaluate_build
    from tfhub_kit.export import export_recipe
    from tfhub_kit.package import package_build
    from tfhub_kit.publish.gcs import parse_gcs_url, plan_gcs, publish_gcs
    from tfhub_kit.publish.kaggle import parse_kaggle_url, plan_kaggle, publish_kaggle
    from tfhub_kit.recipe import load_recipe
    from tfhub_kit.train import train_recipe
    from tfhub_kit.validate import validate_build

    say = progress or (lambda _msg: None)
    if to.startswith("gs://"):
        parse_gcs_url(to)
    else:
        parse_kaggle_url(to)  # raises with the accepted forms for anything else

    def stage(name: str) -> None:
        say(f"== {name}")
        report.stages.append(name)

    stages = []
    if load_recipe(recipe_dir).train is not None:
        say("== train")
        train_recipe(recipe_dir, out_dir=out_dir, progress=say)
        stages.append("train")
    say("== export")
    result = export_recipe(recipe_dir, out_dir=out_dir, progress=say)
    build = result.layout.root
    report = ReleaseReport(build_dir=build, stages=[*stages, "export"])
    manifest = result.manifest

    stage("validate")
    checks = validate_build(build, progress=say)
    if not checks.ok:
        raise ReleaseError(
            "validate", [f"{r.saved_model}/{r.check}: expected {r.expected}; found {r.found}" for r in checks.failures]
        )
    stage("evaluate")
    evaluation = evaluate_build(build, progress=say)
    if not evaluation.ok:
        raise ReleaseError(
            "evaluate",
            [f"{g.metric} is {g.value:.2f}, below the bar of {g.threshold:.2f}" for g in evaluation.failures],
        )
    stage("docs")
    asset_base = None
    if to.startswith("gs://"):
        bucket, prefix = parse_gcs_url(to)
        asset_base = (manifest.publish or {}).get("public_url_base") or (
            f"https://storage.googleapis.com/{bucket}/{prefix}".rstrip("/")
        )
    render_docs(build, asset_base=asset_base, progress=say)
    stage("package")
    package_build(build, progress=say)
    stage("publish")
    if to.startswith("gs://"):
        plan = plan_gcs(build, to, public_url_base=asset_base)
        report.public_urls = plan.public_urls
        if dry_run:
            say(plan.describe())
        else:
            report.published = publish_gcs(plan, progress=say, retry_deadline=retry_deadline)
    else:
        kaggle_plan = plan_kaggle(build, to)
        if dry_run:
            say(kaggle_plan.describe())
        else:
            publish_kaggle(kaggle_plan, progress=say)
            report.published = kaggle_plan
    return report
