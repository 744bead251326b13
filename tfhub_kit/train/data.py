"""Training data: the recipe's objectives read into tasks, and the tf.data pipeline that feeds
them with fixed shapes, tokenized in-graph by the export's own preprocessor. (Over 500 lines:
one reader per objective kind beside the one pipeline they all feed, so the row arithmetic
that makes resume exact and N workers equal one process is in one place.)

    tasks = load_tasks(recipe, student_dim=384, progress=print)
    dataset_fn = dataset_function(tasks, preprocessor, seed=0, start_step=0, stop_step=1000)
    iterator = iter(strategy.distribute_datasets_from_function(dataset_fn))

Which rows make up global batch `s` of a task is a pure function of (seed, task, s): the
rows are read in a fresh permutation each epoch, batch `s` takes stream positions
`[s * B, (s + 1) * B)`. So a resumed run reads exactly what an uninterrupted one would, and
each input pipeline (one per worker) takes its own contiguous share of every global batch:
two workers see the same global batches as one process.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tfhub_kit.datasets import read_cross_lingual_sts, read_nli_triples, read_parallel, read_sts, read_text
from tfhub_kit.errors import RecipeError
from tfhub_kit.files import sha256_file
from tfhub_kit.networks import HFSource, inspect_source
from tfhub_kit.pretrain.corpus import corpus_dataset, parse_examples, training_stream
from tfhub_kit.pretrain.masking import (
    InfillingConfig,
    MlmConfig,
    MlmMasker,
    permute_sentences,
    sentence_order,
    text_infilling,
)
from tfhub_kit.progress import reporter
from tfhub_kit.recipe import Recipe, TextFile

Progress = Callable[[str], None]
TeacherFn = Callable[[str, str, list[str]], np.ndarray]
"""(the recipe field naming the teacher, teacher spec, sentences) -> the teacher's vectors."""


@dataclass(frozen=True)
class Stream:
    """A prepared corpus read as it trains: its folder and manifest (`corpus.json`), the
    shuffle buffer, and the recipe file (for errors)."""

    folder: Path
    manifest: dict[str, Any]
    shuffle_buffer: int
    recipe_file: Path

    @property
    def rows(self) -> int:
        return int(self.manifest["totals"]["train_examples"])

    @property
    def shards(self) -> int:
        return sum(s["split"] == "train" for e in self.manifest["files"] for s in e["shards"])


@dataclass(frozen=True)
class Task:
    """One loss term: its rows (text columns as numpy string arrays, float columns), its
    global batch size and weight, and the files it read (path -> sha256)."""

    name: str
    kind: str  # distill | nli | unsup | sts | mlm | infilling
    columns: dict[str, np.ndarray]
    batch_size: int
    weight: float
    options: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    objective: int = 0
    """Its index in the recipe's train.objectives (for error messages)."""
    masker: Any = None
    """For `mlm`: the `MlmMasker` applied to each batch in the input pipeline."""
    stream: Stream | None = None
    """For `mlm` / `infilling` with `pretrain.corpus.streaming`: the shards it reads (and no
    `columns`)."""
    selection: tuple[list[str], list[str], list[float]] | None = None
    """For `sts` with `held_out`: the pairs kept out of training (first, second, scores),
    on which checkpoints are chosen."""

    @property
    def rows(self) -> int:
        if self.stream is not None:
            return self.stream.rows
        return len(next(iter(self.columns.values())))

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "rows": self.rows,
            "batch_size": self.batch_size,
            "weight": self.weight,
            **self.options,
            "files": self.files,
        }


def load_tasks(
    recipe: Recipe,
    *,
    teacher: TeacherFn,
    corpus: Callable[[], Any] | None = None,
    progress: Progress | None = None,
    source: HFSource | None = None,
    where: str = "train",
) -> list[Task]:
    """Read every objective's data; distillation targets come from `teacher`, masked-LM
    examples from `corpus()` (the prepared `pretrain.corpus` folder). `source` is the recipe's
    source as the caller read it (read here when a pretraining objective needs it); `where`
    is the recipe field of the phase whose objectives these are."""
    assert recipe.train is not None
    say = reporter(progress)
    tasks: list[Task] = []
    held_out = _held_out_sentences(recipe)
    phase = where
    for i, step in enumerate(recipe.train.objectives):
        obj = step.settings
        batch = obj.batch_size or recipe.train.global_batch_size
        where = f"{phase}.objectives[{i}].{step.name}"
        if step.name == "distill":
            texts, sources = [], []
            files: dict[str, str] = {}
            for item in obj.sentences:
                rows = _read_text(recipe, item, files)
                texts += rows
                sources += rows
            for pair in obj.parallel:
                src, tgt = _read_parallel(recipe, pair, files)
                texts += src + tgt
                sources += src + src
            unique = list(dict.fromkeys(sources))
            say(f"{where}: {len(texts):,} rows, teacher {obj.teacher!r} on {len(unique):,} sentences")
            vectors = teacher(f"{where}.teacher", obj.teacher, unique)
            row_of = {s: r for r, s in enumerate(unique)}
            targets = vectors[[row_of[s] for s in sources]]
            tasks.append(
                Task(
                    "distill",
                    "distill",
                    {"text": _strings(texts), "target": targets.astype(np.float32)},
                    batch,
                    obj.weight,
                    {"teacher": obj.teacher, "loss": obj.loss},
                    files,
                    i,
                )
            )
        elif step.name == "mlm":
            tasks.append(_mlm_task(recipe, obj, batch, i, corpus, source or inspect_source(recipe)))
        elif step.name == "infilling":
            tasks.append(_infilling_task(recipe, obj, batch, i, corpus, source or inspect_source(recipe)))
        elif step.name == "contrastive":
            options = {"temperature": obj.temperature}
            if obj.nli:
                files = {}
                triples = [t for item in obj.nli for t in _read_nli(recipe, item, files)]
                columns = {
                    k: _strings([t[j] for t in triples]) for j, k in enumerate(("anchor", "positive", "negative"))
                }
                tasks.append(Task("contrastive_nli", "nli", columns, batch, obj.weight, options, files, i))
            if obj.sentences:
                files = {}
                texts = [t for item in obj.sentences for t in _read_text(recipe, item, files)]
                tasks.append(
                    Task("contrastive_unsup", "unsup", {"text": _strings(texts)}, batch, obj.weight, options, files, i)
                )
            if obj.parallel:
                files = {}
                sides = [_read_parallel(recipe, pair, files) for pair in obj.parallel]
                columns = {
                    "anchor": _strings([s for src, _ in sides for s in src]),
                    "positive": _strings([t for _, tgt in sides for t in tgt]),
                }
                tasks.append(Task("contrastive_parallel", "pairs", columns, batch, obj.weight, options, files, i))
        else:
            files = {}
            (first, second, scores), selection = _split_pairs(_gold_pairs(recipe, obj, files), obj.held_out)
            for pair in obj.cross_lingual:
                paths = recipe.data_path(pair.source), recipe.data_path(pair.target)
                a, b, s = read_cross_lingual_sts(*paths, pair.source_format, pair.target_format)
                rows = pair.max_rows
                first, second, scores = first + a[:rows], second + b[:rows], scores + s[:rows]
                files.update({str(path): sha256_file(path) for path in paths})
            if obj.silver is not None:
                texts = list(dict.fromkeys(t for item in obj.silver.sentences for t in _read_text(recipe, item, files)))
                texts = [t for t in texts if t not in held_out]
                vectors = teacher(f"{where}.silver.teacher", obj.silver.teacher, texts)
                pairs, silver_scores = silver_pairs(
                    vectors, neighbours=obj.silver.neighbours, random=obj.silver.random, seed=recipe.train.seed
                )
                say(
                    f"{where}: {len(pairs):,} silver pairs from {len(texts):,} sentences, teacher {obj.silver.teacher!r}"
                )
                first += [texts[k] for k in pairs[:, 0]]
                second += [texts[k] for k in pairs[:, 1]]
                scores += silver_scores.tolist()
            columns = {"first": _strings(first), "second": _strings(second), "score": np.asarray(scores, np.float32)}
            options = {"loss": obj.loss, **({"scale": obj.scale} if obj.loss == "cosent" else {})}
            if obj.held_out:
                options["held_out_pairs"] = len(selection[2])
            tasks.append(
                Task(
                    "sts",
                    "sts",
                    columns,
                    batch,
                    obj.weight,
                    options,
                    files,
                    i,
                    selection=selection if obj.held_out else None,
                )
            )
    for task in tasks:
        if task.rows == 0:
            raise RecipeError(recipe.file, f"{phase}.objectives ({task.name})", "its data files hold no usable rows")
    return _unique_names(tasks)


Pairs = tuple[list[str], list[str], list[float]]


def _gold_pairs(recipe: Recipe, obj: Any, files: dict[str, str]) -> Pairs:
    """The scored pairs of an sts objective's `data` files, in file order."""
    first: list[str] = []
    second: list[str] = []
    scores: list[float] = []
    for item in obj.data:
        path = recipe.data_path(item.path)
        a, b, s = read_sts(path, item.format)
        first += a[: item.max_rows]
        second += b[: item.max_rows]
        scores += s[: item.max_rows]
        files[str(path)] = sha256_file(path)
    return first, second, scores


def _split_pairs(pairs: Pairs, held_out: float) -> tuple[Pairs, Pairs]:
    """(training pairs, selection pairs): every `1 / held_out`-th row (from the first) is
    held out for selection."""
    every = max(1, round(1 / held_out)) if held_out > 0 else 0
    first, second, scores = pairs
    out: tuple[Pairs, Pairs] = (([], [], []), ([], [], []))
    for r, (a, b, s) in enumerate(zip(first, second, scores, strict=True)):
        side = out[1] if every and r % every == 0 else out[0]
        side[0].append(a)
        side[1].append(b)
        side[2].append(s)
    return out


def _held_out_sentences(recipe: Recipe) -> set[str]:
    """Every sentence of the pairs that sts objectives hold out for selection: silver pairs
    leave them out, so no teacher scores them for training either."""
    assert recipe.train is not None
    found: set[str] = set()
    for step in recipe.train.objectives:
        if step.name == "sts" and step.settings.held_out:
            _, (first, second, _scores) = _split_pairs(_gold_pairs(recipe, step.settings, {}), step.settings.held_out)
            found |= set(first) | set(second)
    return found


def silver_pairs(
    vectors: np.ndarray, *, neighbours: int, random: int, seed: int, chunk: int = 2048
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of rows [n, 2] and their scores, 5 x cosine: each row with its `neighbours`
    nearest other rows and `random` random other rows, each unordered pair once (AugSBERT's
    sampling of what a teacher should score)."""
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    n = len(unit)
    found = []
    if neighbours and n > 1:
        k = min(neighbours, n - 1)
        for start in range(0, n, chunk):
            sims = unit[start : start + chunk] @ unit.T
            rows = np.arange(start, start + len(sims))
            sims[rows - start, rows] = -np.inf
            top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            found.append(np.stack([np.repeat(rows, k), top.reshape(-1)], axis=1))
    if random and n > 1:
        rng = np.random.default_rng(seed)
        rows = np.repeat(np.arange(n), random)
        others = (rows + rng.integers(1, n, size=len(rows))) % n  # never the row itself
        found.append(np.stack([rows, others], axis=1))
    if not found:
        return np.zeros((0, 2), np.int64), np.zeros(0, np.float32)
    pairs = np.unique(np.sort(np.concatenate(found), axis=1), axis=0)
    scores = 5.0 * np.sum(unit[pairs[:, 0]] * unit[pairs[:, 1]], axis=1)
    return pairs, scores.astype(np.float32)


def batch_indices(rows: int, batch: int, seed: int, start_step: int, stop_step: int) -> np.ndarray:
    """Row indices [stop_step - start_step, batch] of global batches start..stop-1: stream
    position p reads row perm_e[p % rows] of epoch e = p // rows, each epoch its own
    permutation seeded by (seed, e)."""
    positions = np.arange(start_step * batch, stop_step * batch, dtype=np.int64)
    epochs, offsets = positions // rows, positions % rows
    out = np.empty_like(positions)
    for epoch in np.unique(epochs):
        perm = np.random.default_rng([seed, int(epoch)]).permutation(rows)
        at = epochs == epoch
        out[at] = perm[offsets[at]]
    return out.reshape(stop_step - start_step, batch).astype(np.int32)


def dataset_function(
    tasks: list[Task],
    preprocessor: Any,
    *,
    seed: int,
    start_step: int,
    stop_step: int,
    buckets: tuple[int, ...] = (),
    lengths: dict[str, np.ndarray] | None = None,
) -> Callable[[Any], Any]:
    """`input_context -> tf.data.Dataset` of per-replica batches (a dict per task) for
    `strategy.distribute_datasets_from_function`. With `buckets` (ascending, the last the
    preprocessor's length) and `lengths` (`row_lengths` per task), every sentence batch of a
    step is cut to the smallest bucket that holds the longest row of that step's global
    batches: a function of the seed and the step, so every worker and a resumed run cut
    alike."""
    import tensorflow as tf

    step_lengths = _step_buckets(tasks, lengths, buckets, seed, start_step, stop_step) if buckets and lengths else None

    def make(ctx: Any) -> Any:
        parts = {}
        for t_index, task in enumerate(tasks):
            share = task.batch_size // ctx.num_input_pipelines
            per_replica = ctx.get_per_replica_batch_size(task.batch_size)
            first = ctx.input_pipeline_id * share
            seed_t = seed + 1000 * t_index
            if task.stream is not None:
                ds = _streamed_rows(task.stream, ctx, seed_t, share, start_step, stop_step, per_replica)
            else:
                idx = batch_indices(task.rows, task.batch_size, seed_t, start_step, stop_step)
                mine = idx[:, first : first + share].reshape(-1)
                ds = tf.data.Dataset.from_tensor_slices(mine).batch(per_replica, drop_remainder=True)
                if step_lengths is not None and task.kind not in ("mlm", "infilling"):
                    cut = np.repeat(step_lengths, share // per_replica).astype(np.int32)
                    ds = tf.data.Dataset.zip((ds, tf.data.Dataset.from_tensor_slices(cut)))
            if task.kind in ("mlm", "infilling"):
                # batch i of this pipeline is replica share i % k of global step start + i // k
                k = share // per_replica
                if task.stream is None:
                    ds = ds.map(_gather_rows(task, per_replica), num_parallel_calls=tf.data.AUTOTUNE)
                make_features = _masked_featurizer if task.kind == "mlm" else _infilling_featurizer
                masked = make_features(task, per_replica, first, k, seed_t, start_step)
                parts[task.name] = ds.enumerate().map(masked, num_parallel_calls=tf.data.AUTOTUNE)
                continue
            featurize = _featurizer(task, preprocessor, per_replica, cut=step_lengths is not None)
            parts[task.name] = ds.map(featurize, num_parallel_calls=tf.data.AUTOTUNE)
        options = tf.data.Options()
        options.deterministic = True
        return tf.data.Dataset.zip(parts).prefetch(2).with_options(options)

    return make


def _featurizer(task: Task, preprocessor: Any, batch: int, *, cut: bool = False) -> Callable[..., dict[str, Any]]:
    """Row indices (and, with `cut`, the step's bucket length) -> the task's features: text
    columns as encoder inputs [batch, length], the others gathered."""
    import tensorflow as tf

    seq = preprocessor.seq_length
    columns = {k: tf.constant(v) for k, v in task.columns.items()}

    def ids(text: Any, length: Any) -> dict[str, Any]:
        out = {k: tf.ensure_shape(v, [batch, seq]) for k, v in preprocessor(text).items()}
        if length is None:
            return out
        return {k: tf.ensure_shape(v[:, :length], [batch, None]) for k, v in out.items()}

    def featurize(rows: Any, length: Any = None) -> dict[str, Any]:
        feats = {}
        for key, column in columns.items():
            values = tf.gather(column, rows)
            feats[key] = (
                ids(values, length)
                if column.dtype == tf.string
                else tf.ensure_shape(values, [batch, *column.shape[1:]])
            )
        return feats

    return featurize


def row_lengths(task: Task, preprocessor: Any, chunk: int = 4096) -> np.ndarray:
    """[rows] the encoder-input length (special tokens included, at most the preprocessor's
    seq_length) of each row's longest text column."""
    import tensorflow as tf

    texts = [c for c in task.columns.values() if c.dtype.kind in "SUO"]
    longest = np.zeros(task.rows, np.int32)
    for column in texts:
        for start in range(0, task.rows, chunk):
            mask = preprocessor(tf.constant(column[start : start + chunk]))["input_mask"]
            found = tf.reduce_sum(mask, axis=1).numpy()
            longest[start : start + chunk] = np.maximum(longest[start : start + chunk], found)
    return longest


def _step_buckets(
    tasks: list[Task], lengths: dict[str, np.ndarray], buckets: tuple[int, ...], seed: int, start: int, stop: int
) -> np.ndarray:
    """[stop - start] the bucket of each step: the smallest that holds the longest row any
    sentence task reads in that step's global batch."""
    longest = np.zeros(stop - start, np.int32)
    for t_index, task in enumerate(tasks):
        if task.name in lengths:
            idx = batch_indices(task.rows, task.batch_size, seed + 1000 * t_index, start, stop)
            longest = np.maximum(longest, lengths[task.name][idx].max(axis=1))
    sizes = np.asarray(buckets)
    return sizes[np.minimum(np.searchsorted(sizes, longest), len(sizes) - 1)]


def _streamed_rows(stream: Stream, ctx: Any, seed: int, share: int, start_step: int, stop_step: int, batch: int) -> Any:
    """This pipeline's `share` rows of each global batch start..stop-1, read from its shards,
    in per-replica batches."""
    import tensorflow as tf

    if stream.shards < ctx.num_input_pipelines:
        raise RecipeError(
            stream.recipe_file,
            "pretrain.corpus.shards",
            f"streaming gives each of the {ctx.num_input_pipelines} workers its own shards",
            allowed=f"at least {ctx.num_input_pipelines} shards",
            value=stream.shards,
        )
    rows = training_stream(stream.folder, seed=seed, shuffle_buffer=stream.shuffle_buffer, input_context=ctx)
    rows = rows.skip(start_step * share).take((stop_step - start_step) * share).batch(batch, drop_remainder=True)
    return rows.map(lambda records: parse_examples(records, stream.manifest), num_parallel_calls=tf.data.AUTOTUNE)


def _gather_rows(task: Task, batch: int) -> Callable[[Any], dict[str, Any]]:
    """Row indices -> the rows of the task's in-memory columns, fixed shapes."""
    import tensorflow as tf

    columns = {k: tf.constant(v) for k, v in task.columns.items()}

    def gather(rows: Any) -> dict[str, Any]:
        return {k: tf.ensure_shape(tf.gather(c, rows), [batch, *c.shape[1:]]) for k, c in columns.items()}

    return gather


def _masked_featurizer(
    task: Task, batch: int, first: int, k: int, seed: int, start_step: int
) -> Callable[[Any, Any], dict[str, Any]]:
    """Batches of prepared rows -> the encoder inputs with a fresh mask for each step
    (dynamic masking) plus `masked_lm_positions`, `masked_lm_ids`, `masked_lm_weights`."""
    import tensorflow as tf

    order = bool(task.options.get("sentence_order"))
    pad = task.options["padding_id"]

    def featurize(i: Any, rows: dict[str, Any]) -> dict[str, Any]:
        ids = rows["input_word_ids"]
        step = tf.cast(start_step, tf.int64) + i // k
        return mlm_features(
            task.masker,
            ids,
            tf.cast(tf.not_equal(ids, pad), tf.int32),
            rows["first_length"] if order else None,
            mask_seed=tf.stack([tf.constant(seed, tf.int64), step]),
            order_seed=tf.stack([tf.constant(seed + 1, tf.int64), step]),
            offset=first + tf.cast(i % k, tf.int32) * batch,
            total=task.batch_size,
        )

    return featurize


def mlm_features(
    masker: Any,
    ids: Any,
    mask: Any,
    first_length: Any,
    *,
    mask_seed: Any,
    order_seed: Any,
    offset: Any = 0,
    total: Any = None,
) -> dict[str, Any]:
    """The masked-LM inputs of packed rows: with `first_length` (segment pairs) half the
    pairs are swapped first (sentence-order labels), then the result is masked."""
    import tensorflow as tf

    extra = {"input_type_ids": tf.zeros_like(ids)}
    if first_length is not None:
        extra = sentence_order(ids, mask, first_length, order_seed, offset=offset, total=total)
        ids = extra.pop("input_word_ids")
    return {**masker(ids, mask, mask_seed, offset=offset, total=total), **extra}


def _infilling_featurizer(
    task: Task, batch: int, first: int, k: int, seed: int, start_step: int
) -> Callable[[Any, Any], dict[str, Any]]:
    """Batches of prepared rows -> BART's inputs with a fresh corruption for each step: the corrupted
    rows for the encoder, the original rows shifted right (after a start token) for the
    decoder, and the original rows as labels."""
    import tensorflow as tf

    options = task.options

    def featurize(i: Any, rows: dict[str, Any]) -> dict[str, Any]:
        step = tf.cast(start_step, tf.int64) + i // k
        offset = first + tf.cast(i % k, tf.int32) * batch
        return infilling_features(
            rows, tf.stack([tf.constant(seed, tf.int64), step]), options, offset=offset, total=task.batch_size
        )

    return featurize


def infilling_features(
    rows: dict[str, Any], seed: Any, options: dict[str, Any], *, offset: Any = 0, total: Any = None
) -> Any:
    """BART's training inputs from a batch of packed rows (see `_infilling_featurizer`): with
    `permute_sentences` each row's sentences are shuffled first, then spans are masked; the
    decoder's target is always the original row. `in_span` marks the target tokens that the
    encoder saw masked."""
    import tensorflow as tf

    ids = rows["input_word_ids"]
    pad = options["padding_id"]
    mask = tf.cast(tf.not_equal(ids, pad), tf.int32)
    corrupt, back = ids, None
    if options.get("permute_sentences"):
        order_seed = tf.random.experimental.stateless_fold_in(seed, 1)
        shuffled = permute_sentences(ids, rows["sentence_index"], order_seed, offset=offset, total=total)
        corrupt, back = shuffled["input_word_ids"], tf.argsort(shuffled["source_positions"], axis=1)
    config = InfillingConfig(mask_ratio=options["mask_ratio"], poisson_lambda=options["poisson_lambda"])
    out = text_infilling(
        corrupt, mask, seed, config=config, mask_id=options["mask_id"], pad_id=pad, offset=offset, total=total
    )
    in_span = out["target_in_span"] if back is None else tf.gather(out["target_in_span"], back, batch_dims=1)
    start = tf.fill([tf.shape(ids)[0], 1], tf.constant(options["decoder_start_id"], ids.dtype))
    return {
        "encoder_token_ids": out["encoder_token_ids"],
        "encoder_padding_mask": out["encoder_padding_mask"],
        "decoder_token_ids": tf.concat([start, ids[:, :-1]], axis=1),
        "decoder_padding_mask": tf.concat([tf.ones_like(mask[:, :1]), mask[:, :-1]], axis=1),
        "labels": ids,
        "label_weights": tf.cast(mask, tf.float32),
        "in_span": in_span,
    }


def _infilling_task(recipe: Recipe, obj: Any, batch: int, index: int, corpus: Any, source: HFSource) -> Task:
    """The prepared corpus's training examples and the corruption settings."""
    if source.architecture.model_type != "bart":
        raise RecipeError(
            recipe.file,
            f"train.objectives[{index}].infilling",
            "text infilling trains an encoder-decoder",
            allowed="a BART source",
            value=source.architecture.model_type,
        )
    folder = corpus()
    columns, stream, files = _prepared_rows(recipe, folder, ("sentence_index",) if obj.permute_sentences else ())
    ids = source.tokenizer.special_ids()
    options = {
        "mask_ratio": obj.mask_ratio,
        "poisson_lambda": obj.poisson_lambda,
        "permute_sentences": obj.permute_sentences,
        "padding_id": ids["padding_id"],
        "mask_id": ids["mask_id"],
        "decoder_start_id": ids["end_of_segment_id"],  # BART starts decoding after </s>
        "corpus": str(folder),
        "streaming": stream is not None,
    }
    return Task("infilling", "infilling", columns, batch, obj.weight, options, files, index, stream=stream)


def _mlm_task(recipe: Recipe, obj: Any, batch: int, index: int, corpus: Any, source: HFSource) -> Task:
    """The prepared corpus's training examples and a masker for the source's vocabulary."""

    assert recipe.pretrain is not None and corpus is not None  # load_recipe checked the pretrain section
    folder = corpus()
    columns, stream, files = _prepared_rows(recipe, folder, ("first_length",) if obj.sentence_order else ())
    spec = source.tokenizer
    masker = MlmMasker.for_tokenizer(
        MlmConfig(
            rate=obj.rate,
            mask_rate=obj.mask_rate,
            random_rate=obj.random_rate,
            max_predictions=obj.max_predictions,
            whole_word=obj.whole_word,
        ),
        spec,
    )
    options = {
        "whole_word": obj.whole_word,
        "sentence_order": obj.sentence_order,
        "rate": obj.rate,
        "max_predictions": obj.max_predictions,
        "padding_id": spec.special_ids()["padding_id"],
        "corpus": str(folder),
        "streaming": stream is not None,
    }
    return Task("mlm", "mlm", columns, batch, obj.weight, options, files, index, masker, stream)


def _prepared_rows(
    recipe: Recipe, folder: Path, extra: tuple[str, ...]
) -> tuple[dict[str, np.ndarray], Stream | None, dict[str, str]]:
    """The prepared corpus's training rows (`input_word_ids` and the `extra` features): in
    memory as columns, or with `pretrain.corpus.streaming` a `Stream` of its shards; and its
    files' hashes."""

    assert recipe.pretrain is not None
    settings = recipe.pretrain.corpus
    manifest = json.loads((folder / "corpus.json").read_text())
    files = {e["path"]: e["sha256"] for e in manifest["files"]}
    if settings.streaming:
        return {}, Stream(folder, manifest, settings.shuffle_buffer, recipe.file), files
    examples = list(corpus_dataset(folder, "train").as_numpy_iterator())
    columns = {key: np.stack([ex[key] for ex in examples]).astype(np.int32) for key in ("input_word_ids", *extra)}
    return columns, None, files


def _read_text(recipe: Recipe, item: TextFile, files: dict[str, str]) -> list[str]:
    path = recipe.data_path(item.path)
    files[str(path)] = sha256_file(path)
    return read_text(path, item.format)[: item.max_rows]


def _read_parallel(recipe: Recipe, pair: Any, files: dict[str, str]) -> tuple[list[str], list[str]]:
    src_path, tgt_path = recipe.data_path(pair.source), recipe.data_path(pair.target)
    src, tgt = read_parallel(src_path, tgt_path, pair.source_format, pair.target_format)
    files[str(src_path)], files[str(tgt_path)] = sha256_file(src_path), sha256_file(tgt_path)
    return src[: pair.max_rows], tgt[: pair.max_rows]


def _read_nli(recipe: Recipe, item: TextFile, files: dict[str, str]) -> list[tuple[str, str, str]]:
    path = recipe.data_path(item.path)
    files[str(path)] = sha256_file(path)
    return read_nli_triples(path, item.format)[: item.max_rows]


def _strings(values: list[str]) -> np.ndarray:
    return np.asarray([v.encode("utf-8") for v in values], dtype=object)


def _unique_names(tasks: list[Task]) -> list[Task]:
    counts: dict[str, int] = {}
    out = []
    for task in tasks:
        n = counts.get(task.name, 0)
        counts[task.name] = n + 1
        out.append(dataclasses.replace(task, name=f"{task.name}_{n + 1}") if n else task)
    return out
