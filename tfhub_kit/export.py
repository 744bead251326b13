"""Export stage: a recipe's network -> TF Hub SavedModels + `manifest.json`, atomically.

    result = export_recipe("models/tfhub-kit/all_minilm_l6_v2", out_dir="build")

writes `build/<publisher>/<model>/<version>/` with (as the recipe asks):
- `preprocess/`: strings -> `input_word_ids`, `input_mask`, `input_type_ids`, plus
  `.tokenize`, `.bert_pack_inputs` and `.tokenize.get_special_tokens_dict()`;
- `encoder/`: a Reusable SavedModel (`__call__(inputs, training)`, `variables`,
  `trainable_variables`, `regularization_losses`) and a `serving_default` signature;
- `embedding/`: strings -> float32 [batch, dim], Reusable as well;
- `keras_preset/` (when asked): the network and tokenizer as a keras-hub preset;
- `eval_data/`: copies of the recipe's evaluation data (named by hash in the manifest);
- `manifest.json`: hashes, signatures, sizes, versions and probe outputs.
Everything goes to a temporary folder first and is renamed into place at the end.

This module decides whether an export is needed (an unchanged build is reused in well under a
second, without loading TensorFlow); `tfhub_kit.hubmodels` writes the SavedModels.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tfhub_kit.errors import BuildLayoutError
from tfhub_kit.evaldata import check_eval_data
from tfhub_kit.files import sha256_file
from tfhub_kit.layout import BuildLayout, ExportResult, ModelLayout, recover_stale
from tfhub_kit.locks import writer_lock
from tfhub_kit.manifest import Manifest, library_versions
from tfhub_kit.metrics import non_finite
from tfhub_kit.networks import HFSource, inspect_source
from tfhub_kit.progress import reporter
from tfhub_kit.recipe import Recipe, data_files, load_recipe
from tfhub_kit.runs import TRAIN_FILE, restore_trained, run_id

Progress = Callable[[str], None]
MODEL2VEC_DIR = "model2vec"


def export_recipe(
    recipe_dir: str | Path, *, out_dir: str | Path = "build", progress: Progress | None = None, fresh: bool = False
) -> ExportResult:
    """Build the recipe's network (source, transforms, trained weights) and export it
    (the by-name entry point). A recipe with `train:` takes its weights from the training
    run's checkpoint: run `tfhub-kit train` first. A build made from the same inputs
    (recipe, source files, data files, training run, kit and library versions) is reused
    unless `fresh`."""
    say = reporter(progress)
    recipe = load_recipe(recipe_dir)
    layout = BuildLayout.for_handle(out_dir, recipe.model.publisher, recipe.model.name, recipe.model.version)
    with writer_lock(layout.root, "export"):
        recover_stale(layout.root, say)
        source = inspect_source(recipe)  # read once; the stages below receive it
        inputs = export_inputs(recipe, out_dir=out_dir, source=source)
        if not fresh:
            current = _current_build(layout, inputs)
            if current is not None:
                say(
                    f"up to date: {layout.root} was exported from the same inputs (sha256 {inputs['sha256'][:12]}); reusing it"
                )
                return ExportResult(layout=layout, manifest=current)
        check_eval_data(recipe)  # an up-to-date build's data (same hashes) was checked when it was made
        # heavy: these import TensorFlow and keras-hub, which an unchanged build never needs
        from tfhub_kit.build import build_model
        from tfhub_kit.heads import mlm_head
        from tfhub_kit.hubmodels import export_network, export_static

        with build_model(recipe, out_dir=out_dir, progress=say, source=source) as built:
            if built.table is not None:
                check_finite({"static table": built.table.vectors}, f"{recipe.file}: the static table")
                return export_static(
                    built.table, built.source, recipe, layout, progress=say, transforms=built.report, inputs=inputs
                )
            training, head = None, None
            where = f"the checkpoint of {source.folder}"
            if recipe.train is not None:
                if any(step.mlm for step in recipe.train.objectives):
                    head = mlm_head(built.network)
                heads = {"mlm_head": head} if head is not None else {}
                training = restore_trained(built.network, recipe, out_dir=out_dir, heads=heads, progress=say)
                where = f"the training checkpoint {training['checkpoint_path']}"
            check_finite({v.path: v for v in built.network.backbone.weights}, where)
            return export_network(
                built.network,
                built.source,
                recipe,
                layout,
                progress=say,
                transforms=built.report,
                training=training,
                inputs=inputs,
                mlm_head=head,
            )


def export_inputs(recipe: Recipe, *, out_dir: str | Path = "build", source: HFSource | None = None) -> dict[str, Any]:
    """Hashes of everything an export is made from: the recipe, the source checkpoint's
    files, the data files the recipe names, the training run's report, and the versions of
    the kit and the libraries that write the SavedModels."""
    import hashlib
    import json

    source = source or inspect_source(recipe)
    files = {"recipe": recipe.sha256}
    files |= {f"source/{p.relative_to(source.folder)}": sha256_file(p) for p in source.files}
    files |= {f"data/{relative}": sha256_file(recipe.data_path(relative)) for _field, relative in data_files(recipe)}
    if recipe.train is not None:
        report = ModelLayout.for_recipe(out_dir, recipe).run(run_id(recipe)) / TRAIN_FILE
        files["train"] = sha256_file(report) if report.is_file() else "none"
    versions = library_versions()
    key = json.dumps({"files": files, "versions": versions}, sort_keys=True)
    return {"sha256": hashlib.sha256(key.encode()).hexdigest(), "files": files, "versions": versions}


def _current_build(layout: BuildLayout, inputs: dict[str, Any]) -> Manifest | None:
    """The build's manifest if it was exported from `inputs` and is complete, else None."""
    if not layout.manifest_file.is_file():
        return None
    try:
        manifest = layout.read_manifest()
    except BuildLayoutError:
        return None
    if (manifest.inputs or {}).get("sha256") != inputs["sha256"]:
        return None
    return manifest


def check_finite(weights: dict[str, Any], where: str) -> None:
    """Refuse to export NaN or Inf weights (a diverged run, a damaged checkpoint): exit 4,
    naming `where` the weights come from and the first variables that hold them."""
    bad = non_finite(weights)
    if bad:
        raise BuildLayoutError(
            f"{where}: {len(bad)} of {len(weights)} weight arrays hold NaN or Inf (first: {', '.join(bad[:3])}); "
            "nothing was exported. Train again with a lower learning rate (`tfhub-kit train --fresh`)"
        )
