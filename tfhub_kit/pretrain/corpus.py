"""Corpus preparation (`tfhub-kit data prepare`): plain text -> sharded TFRecord files of
fixed-length examples, packed the way RoBERTa's FULL-SENTENCES inputs are, or as ALBERT's
segment pairs.

    prepared = prepare_corpus("models/tfhub-kit/all_minilm_l6_v2_mlm", out_dir="build", progress=print)
    prepared.manifest["totals"]        # documents, sentences, examples, tokens
    ds = corpus_dataset(prepared.folder, "train")   # {"input_word_ids", "input_mask"} [seq_length]

Tokenization is the kit's own tensorflow-text tokenizer of the recipe's source (the ops its
preprocessing SavedModel runs). An example is `[CLS] sentences [SEP]` padded to
`seq_length`: whole sentences are added while they fit, crossing document boundaries with an
extra separator between documents; a sentence longer than an example is cut. With
`packing: segment_pairs` an example is `[CLS] a [SEP] b [SEP]`, `a` and `b` consecutive
segments of one document (see `pack_segment_pairs`), and records `first_length`. Each corpus
file is prepared on its own and its shards carry the hash of what made them, so a rerun
reuses the shards of unchanged files and prepares only the changed ones. Shards and
`corpus.json` are written to temporary names and renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tfhub_kit.datasets import read_lines, read_text
from tfhub_kit.errors import RecipeError
from tfhub_kit.files import sha256_file, write_json_atomic
from tfhub_kit.layout import ModelLayout
from tfhub_kit.networks import HFSource, inspect_source
from tfhub_kit.pretrain.masking import word_starts
from tfhub_kit.progress import bar, reporter
from tfhub_kit.recipe import Recipe, TextFile, load_recipe
from tfhub_kit.tokenizers import flat_ids
from tfhub_kit.tokenizers.build import build_tokenize

Progress = Callable[[str], None]
MANIFEST = "corpus.json"
SPLITS = ("train", "heldout")
_BATCH = 1024


@dataclass(frozen=True)
class PreparedCorpus:
    """The corpus folder, its manifest, and which files' shards a rerun reused."""

    folder: Path
    manifest: dict[str, Any]
    reused: list[str]


def prepare_corpus(
    recipe_dir: str | Path | Recipe,
    *,
    out_dir: str | Path = "build",
    progress: Progress | None = None,
    source: HFSource | None = None,
) -> PreparedCorpus:
    """Prepare the recipe's `pretrain.corpus` into `<out>/<publisher>/<model>/corpus/`.

    `source` is the source whose tokenizer cuts the text, as the caller has it. For a recipe
    whose transforms change the vocabulary (`extend_vocab`, `prune_vocab`) that must be the
    built one (`build.tokenizer_source`), so the ids are the network's; otherwise it is read
    here when not given."""
    recipe = recipe_dir if isinstance(recipe_dir, Recipe) else load_recipe(recipe_dir)
    say = reporter(progress)
    if recipe.pretrain is None:
        raise RecipeError(recipe.file, "pretrain", "is required by `tfhub-kit data prepare`", show_value=False)
    if source is None and recipe.changes_vocabulary:
        raise RecipeError(
            recipe.file,
            "transforms",
            "change the vocabulary, so the corpus must be cut with the built tokenizer",
            allowed="prepare_corpus(recipe, source=...) inside build.tokenizer_source (as `tfhub-kit data prepare` does)",
            show_value=False,
        )
    corpus = recipe.pretrain.corpus
    paths = []
    for i, item in enumerate(corpus.files):
        path = recipe.data_path(item.path)
        if not path.is_file():
            raise RecipeError(recipe.file, f"pretrain.corpus.files[{i}].path", "file not found", value=str(path))
        paths.append(path)

    spec = (source or inspect_source(recipe)).tokenizer
    ids = spec.special_ids()
    settings = {
        "seq_length": recipe.pretrain.seq_length,
        "shards": corpus.shards,
        "held_out": corpus.held_out,
        "packing": corpus.packing,
        "format": 2,  # 2: full-sentence examples record where each sentence starts
        "tokenizer": {**spec.describe(), "vocab_sha256": sha256_file(spec.vocab_file)},
        "special_ids": {k: ids[k] for k in ("start_of_sequence_id", "end_of_segment_id", "padding_id")},
    }
    folder = ModelLayout.for_recipe(out_dir, recipe).corpus
    folder.mkdir(parents=True, exist_ok=True)
    previous = _read_manifest(folder)
    old = {entry["key"]: entry for entry in previous.get("files", [])}

    tokenize = None
    entries, reused = [], []
    for item, path in zip(corpus.files, paths, strict=False):
        digest = sha256_file(path)
        identity = json.dumps([digest, item.format, item.max_rows, settings], sort_keys=True)
        key = hashlib.sha256(identity.encode()).hexdigest()[:16]
        if key in old and _shards_intact(folder, old[key]):
            say(f"{item.path}: unchanged, reusing {len(old[key]['shards'])} shards")
            entries.append(old[key])
            reused.append(item.path)
            continue
        if tokenize is None:
            tokenize = build_tokenize(spec)
        entry = _prepare_file(folder, item, path, digest, key, settings, tokenize, spec, say)
        entries.append(entry)

    totals = {
        k: sum(e[k] for e in entries)
        for k in ("documents", "sentences", "tokens", "train_examples", "heldout_examples")
    }
    manifest = {**settings, "files": entries, "totals": totals}
    if manifest != previous:  # an up-to-date corpus is left untouched (other workers may be reading it)
        write_json_atomic(folder / MANIFEST, manifest)
    kept = {s["name"] for e in entries for s in e["shards"]}
    for stale in folder.glob("*.tfrecord"):
        if stale.name not in kept:
            stale.unlink()
    say(
        f"corpus: {totals['train_examples']:,} training and {totals['heldout_examples']:,} held-out examples "
        f"of {recipe.pretrain.seq_length} tokens from {totals['documents']:,} documents -> {folder}"
    )
    return PreparedCorpus(folder, manifest, reused)


def corpus_dataset(folder: str | Path, split: str = "train", input_context: Any = None) -> Any:
    """The prepared examples of `split` as a tf.data.Dataset of fixed-shape
    {"input_word_ids", "input_mask"} (int32 [seq_length]); with a `tf.distribute.InputContext`
    each input pipeline reads its own shards, read in parallel."""
    import tensorflow as tf

    folder = Path(folder)
    manifest = _read_manifest(folder)
    if not manifest:
        raise FileNotFoundError(f"{folder / MANIFEST} not found: run `tfhub-kit data prepare` first")
    files = tf.data.Dataset.from_tensor_slices(_shard_names(folder, manifest, split))
    if input_context is not None and input_context.num_input_pipelines > 1:
        files = files.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    records = files.interleave(tf.data.TFRecordDataset, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    records = records.batch(256).map(lambda batch: parse_examples(batch, manifest), num_parallel_calls=tf.data.AUTOTUNE)
    return records.unbatch()


def training_stream(folder: str | Path, *, seed: int, shuffle_buffer: int, input_context: Any = None) -> Any:
    """The training examples, serialized, as an endless seeded stream
    (`pretrain.corpus.streaming`; batch them, then `parse_examples`): each input pipeline
    takes its own shards (every `num_input_pipelines`-th; the caller sees that there are at
    least as many shards as pipelines), reads them in a seeded order per epoch, interleaved,
    through a seeded shuffle buffer. The order is a function of (seed, shards, pipeline)
    alone, so a resumed run skips to where it was."""
    import tensorflow as tf

    folder = Path(folder)
    mine = _shard_names(folder, _read_manifest(folder), "train")
    if input_context is not None:
        mine = mine[input_context.input_pipeline_id :: input_context.num_input_pipelines]
    files = tf.data.Dataset.from_tensor_slices(mine).shuffle(len(mine), seed=seed, reshuffle_each_iteration=True)
    records = files.interleave(
        tf.data.TFRecordDataset, cycle_length=min(len(mine), 4), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    return records.shuffle(shuffle_buffer, seed=seed + 1, reshuffle_each_iteration=True).repeat()


def _shard_names(folder: Path, manifest: dict[str, Any], split: str) -> list[str]:
    return sorted(str(folder / s["name"]) for e in manifest["files"] for s in e["shards"] if s["split"] == split)


def parse_examples(records: Any, manifest: dict[str, Any]) -> dict[str, Any]:
    """A batch of serialized examples -> {"input_word_ids", "input_mask"} [batch, seq_length]
    plus `first_length` [batch] (segment pairs) or `sentence_index` [batch, seq_length]
    (full sentences: 1, 2, ... for each sentence's tokens, 0 for `[CLS]`, the final `[SEP]`
    and padding), all int32."""
    import tensorflow as tf

    length, pad = manifest["seq_length"], manifest["special_ids"]["padding_id"]
    feature = {"input_word_ids": tf.io.FixedLenFeature([length], tf.int64)}
    pairs = manifest["packing"] == "segment_pairs"
    if pairs:
        feature["first_length"] = tf.io.FixedLenFeature([], tf.int64)
    else:
        feature["sentence_starts"] = tf.io.VarLenFeature(tf.int64)
    example = tf.io.parse_example(records, feature)
    ids = tf.cast(example["input_word_ids"], tf.int32)
    mask = tf.cast(tf.not_equal(ids, pad), tf.int32)
    out = {"input_word_ids": ids, "input_mask": mask}
    if pairs:
        out["first_length"] = tf.cast(example["first_length"], tf.int32)
    else:
        starts = example["sentence_starts"]
        at = tf.stack([starts.indices[:, 0], starts.values], axis=1)
        marks = tf.scatter_nd(at, tf.ones_like(starts.values, tf.int32), tf.cast(tf.shape(ids), tf.int64))
        position = tf.range(length)[None, :]
        body = (position >= 1) & (position < tf.reduce_sum(mask, axis=1, keepdims=True) - 1)
        out["sentence_index"] = tf.ensure_shape(tf.where(body, tf.cumsum(marks, axis=1), 0), [None, length])
    return out


def read_documents(path: Path, fmt: str, max_rows: int | None = None) -> list[list[str]]:
    """Documents as lists of sentences: blank-line separated in `lines` files, one row each
    in the other formats."""
    if fmt != "lines":
        return [[text] for text in read_text(path, fmt)[:max_rows]]
    documents: list[list[str]] = [[]]
    for line in read_lines(path)[:max_rows]:
        if line.strip():
            documents[-1].append(line.strip())
        elif documents[-1]:
            documents.append([])
    return [d for d in documents if d]


def pack_full_sentences(
    documents: list[list[np.ndarray]], capacity: int, sep_id: int
) -> Iterator[tuple[list[int], list[int]]]:
    """Example bodies of at most `capacity` ids: whole sentences while they fit, an extra
    `sep_id` between documents (ending the sentence before it); a sentence longer than
    `capacity` is cut to it. Yields (body, where each sentence starts in the body)."""
    body: list[int] = []
    starts: list[int] = []
    for document in documents:
        new_document = bool(body)
        for sentence in document:
            piece = [int(x) for x in sentence[:capacity]]
            glue = [sep_id] if new_document and body else []
            if body and len(body) + len(glue) + len(piece) > capacity:
                yield body, starts
                body, starts, glue = [], [], []
            body += glue
            starts.append(len(body))
            body += piece
            new_document = False
    if body:
        yield body, starts


def pack_segment_pairs(
    documents: list[list[np.ndarray]], capacity: int, word_start: np.ndarray, seed: int
) -> Iterator[tuple[list[int], list[int]]]:
    """Pairs (a, b) of consecutive segments of one document with len(a) + len(b) <=
    `capacity`, as ALBERT's data maker draws them: a document's sentences are gathered until
    they fill `capacity` (or the document ends), then split at a random sentence boundary;
    a chunk of one sentence is split at a random word start inside it (`word_start[id]`
    says whether a piece starts a word), so one-sentence documents (reviews, say) still give
    pairs. The longer side is cut at its end until the pair fits; a one-piece chunk is
    dropped."""
    rng = np.random.default_rng(seed)
    for document in documents:
        chunk: list[list[int]] = []
        size = 0
        for i, sentence in enumerate(document):
            chunk.append([int(x) for x in sentence])
            size += len(sentence)
            if i == len(document) - 1 or size >= capacity:
                pair = _split_chunk(chunk, word_start, rng)
                if pair is not None:
                    yield _truncate_pair(*pair, capacity)
                chunk, size = [], 0


def _split_chunk(chunk: list[list[int]], word_start: np.ndarray, rng: Any) -> tuple[list[int], list[int]] | None:
    if len(chunk) >= 2:
        cut = int(rng.integers(1, len(chunk)))
        return [x for s in chunk[:cut] for x in s], [x for s in chunk[cut:] for x in s]
    (pieces,) = chunk
    if len(pieces) < 2:
        return None
    starts = [k for k in range(1, len(pieces)) if word_start[pieces[k]]] or list(range(1, len(pieces)))
    cut = int(starts[int(rng.integers(len(starts)))])
    return pieces[:cut], pieces[cut:]


def _truncate_pair(a: list[int], b: list[int], capacity: int) -> tuple[list[int], list[int]]:
    a, b = list(a), list(b)
    while len(a) + len(b) > capacity:
        (a if len(a) >= len(b) else b).pop()
    return a, b


def _prepare_file(
    folder: Path,
    item: TextFile,
    path: Path,
    digest: str,
    key: str,
    settings: dict[str, Any],
    tokenize: Any,
    spec: Any,
    say: Progress,
) -> dict[str, Any]:
    import tensorflow as tf

    documents = read_documents(path, item.format, item.max_rows)
    sentences = [s for d in documents for s in d]
    if not sentences:
        raise RecipeError(path, "(content)", "holds no text", allowed="non-empty lines", show_value=False)
    ids: list[np.ndarray] = []
    batches = range(0, len(sentences), _BATCH)
    for start in bar(batches, total=len(batches), desc=f"tokenizing {item.path}", unit="batch"):
        ragged = flat_ids(tokenize(tf.constant(sentences[start : start + _BATCH])))
        ids += [np.asarray(row) for row in ragged.numpy()]
        done = min(start + _BATCH, len(sentences))
        if done == len(sentences) or (start // _BATCH) % 20 == 19:
            say(f"{item.path}: tokenized {done:,}/{len(sentences):,} sentences")
    tokenized, cursor = [], 0
    for document in documents:
        tokenized.append(ids[cursor : cursor + len(document)])
        cursor += len(document)

    every = max(1, round(1 / settings["held_out"])) if settings["held_out"] > 0 else 0
    held = [d for i, d in enumerate(tokenized) if every and i % every == every - 1]
    train = [d for i, d in enumerate(tokenized) if not (every and i % every == every - 1)]
    special = settings["special_ids"]
    length = settings["seq_length"]
    stem = f"{Path(item.path).stem}-{key}"
    shards = []
    cls, sep = special["start_of_sequence_id"], special["end_of_segment_id"]
    for split, docs, count in (("train", train, settings["shards"]), ("heldout", held, 1)):
        if settings["packing"] == "segment_pairs":
            starts = word_starts(spec.vocab(), spec.family, spec.suffix_indicator)
            seed = int(key, 16) % (1 << 32) + (split == "heldout")
            pairs = pack_segment_pairs(docs, length - 3, starts, seed)
            examples = [([cls, *a, sep, *b, sep], {"first_length": [len(a)]}) for a, b in pairs]
        else:
            packed = pack_full_sentences(docs, length - 2, sep)
            examples = [([cls, *body, sep], {"sentence_starts": [1 + x for x in starts]}) for body, starts in packed]
        for index in range(count if examples else 0):
            name = f"{stem}.{split}-{index:05d}-of-{count:05d}.tfrecord"
            rows = examples[index::count]
            _write_shard(folder / name, rows, length, special["padding_id"])
            stat = (folder / name).stat()
            shards.append(
                {
                    "name": name,
                    "split": split,
                    "examples": len(rows),
                    "sha256": sha256_file(folder / name),
                    "bytes": stat.st_size,
                    "mtime_ns": stat.st_mtime_ns,
                }
            )
    entry = {
        "path": item.path,
        "format": item.format,
        "sha256": digest,
        "key": key,
        "documents": len(documents),
        "sentences": len(sentences),
        "tokens": int(sum(len(x) for x in ids)),
        "train_examples": sum(int(s["examples"]) for s in shards if s["split"] == "train"),  # type: ignore[call-overload]
        "heldout_examples": sum(int(s["examples"]) for s in shards if s["split"] == "heldout"),  # type: ignore[call-overload]
        "shards": shards,
    }
    say(f"{item.path}: {entry['train_examples']:,} + {entry['heldout_examples']:,} examples in {len(shards)} shards")
    return entry


def _write_shard(path: Path, rows: list[tuple[list[int], dict[str, list[int]]]], length: int, pad: int) -> None:
    import tensorflow as tf

    def ints(values: list[int]) -> Any:
        return tf.train.Feature(int64_list=tf.train.Int64List(value=values))

    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with tf.io.TFRecordWriter(str(tmp)) as writer:
        for row, extra in rows:
            feature = {"input_word_ids": ints(row + [pad] * (length - len(row)))}
            feature |= {key: ints(values) for key, values in extra.items()}
            example = tf.train.Example(features=tf.train.Features(feature=feature))
            writer.write(example.SerializeToString())
    os.replace(tmp, path)


def _shards_intact(folder: Path, entry: dict[str, Any]) -> bool:
    """Every shard is there as written: same size and modification time (cheap, so a large
    corpus is not read again at every start), else the same sha256."""
    return all(_shard_intact(folder / s["name"], s) for s in entry["shards"])


def _shard_intact(path: Path, shard: dict[str, Any]) -> bool:
    if not path.is_file():
        return False
    stat = path.stat()
    if stat.st_size == shard.get("bytes") and stat.st_mtime_ns == shard.get("mtime_ns"):
        return True
    return sha256_file(path) == shard["sha256"]


def _read_manifest(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
