"""Release: [train ->] export -> validate -> evaluate -> docs -> package -> publish, stopping at the
first failing stage with its report. A model that fails validation or a threshold is never
published.

    report = release("models/tfhub-kit/all_minilm_l6_v2", to="gs://my-bucket/hub")

It takes the options of every stage it runs (`fresh` for train and export, `tolerance` for
validate, `asset_base` for docs, `force` for the gate, `retry_deadline` for publish, `allow_code` for
Python teachers), so
`tfhub-kit release` can do whatever the stages can do one by one. With `force`, a failed
check or threshold is reported as a warning and the release goes on, as `package --force`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfhub_kit.docs import render_docs
from tfhub_kit.errors import ReleaseError
from tfhub_kit.evaluate import evaluate_build
from tfhub_kit.export import export_recipe
from tfhub_kit.gate import check_gate
from tfhub_kit.package import package_build
from tfhub_kit.progress import reporter
from tfhub_kit.publish.targets import target_for
from tfhub_kit.recipe import load_recipe
from tfhub_kit.train import train_recipe
from tfhub_kit.validate import validate_build


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
    fresh: bool = False,
    force: bool = False,
    tolerance: float | None = None,
    asset_base: str | None = None,
    retry_deadline: float = 120.0,
    allow_code: bool = False,
    progress: Callable[[str], None] | None = None,
) -> ReleaseReport:
    say = reporter(progress)
    target = target_for(to)  # a malformed --to fails before any work

    stages: list[str] = []
    if load_recipe(recipe_dir).train is not None:
        say("== train")
        train_recipe(recipe_dir, out_dir=out_dir, fresh=fresh, allow_code=allow_code, progress=say)
        stages.append("train")
    say("== export")
    result = export_recipe(recipe_dir, out_dir=out_dir, fresh=fresh, progress=say)
    build = result.layout.root
    report = ReleaseReport(build_dir=build, stages=[*stages, "export"])

    def stage(name: str) -> None:
        say(f"== {name}")
        report.stages.append(name)

    def failed(name: str, details: list[str]) -> None:
        if not force:
            raise ReleaseError(name, details)
        say(f"warning: {name} failed ({'; '.join(details)}); going on because of --force")

    stage("validate")
    checks = validate_build(build, tolerance=tolerance, progress=say)
    if not checks.ok:
        failed(
            "validate", [f"{r.saved_model}/{r.check}: expected {r.expected}; found {r.found}" for r in checks.failures]
        )
    stage("evaluate")
    evaluation = evaluate_build(build, progress=say)
    if not evaluation.ok:
        failed(
            "evaluate",
            [f"{g.metric} is {g.value:.2f}, below the bar of {g.threshold:.2f}" for g in evaluation.failures],
        )
    stage("docs")
    base = asset_base or target.asset_base(to, result.manifest)
    render_docs(build, asset_base=base, progress=say)
    stage("package")
    check_gate(build, force=force, warn=say)
    package_build(build, progress=say)
    stage("publish")
    plan = target.plan(build, to, base)
    report.public_urls = dict(plan.public_urls)
    if dry_run:
        say(plan.describe())
    else:
        report.published = target.publish(plan, progress=say, retry_deadline=retry_deadline)
    return report
