"""Vocabulary pruning (the smaller-LaBSE method): keep the tokens a set of languages uses.

    counts = {"en": count_tokens(["corpus.en.txt"], tokenize, vocab_size=30522)}
    result = prune_vocab(network, tokenizer, counts, min_line_fraction=0.00005, workdir=tmp)

Per language, the corpus is tokenized with the model's own tokenizer (the same tf-text
graph the preprocessing SavedModel uses) in a streaming tf.data pipeline, and each token's
number of lines is counted. A token is kept if it appears in at least `min_line_fraction`
of a language's lines (or is among its `top_n` by line count). The new vocabulary is the
bracketed special tokens in their original order (`[unusedN]` placeholders dropped), then
the union of kept tokens in their original order. Embedding rows are gathered by old id,
every other weight is copied, and the preprocessor is rebuilt on the new vocabulary, so
text whose tokens are all kept gives the same outputs as before.

Every tokenizer family prunes: WordPiece writes a new `vocab.txt`; SentencePiece and
byte-level BPE write a new `tokenizer.json` (which HF loads too). A Unigram model keeps the
scores of its kept pieces, so a sentence whose best segmentation used kept pieces only keeps
it, plus the byte pieces of a byte-fallback model; a BPE model keeps the 256 byte
characters and every piece a kept piece is merged from, and the merges among kept pieces.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tfhub_kit.cpu import usable_cores
from tfhub_kit.files import sha256_file
from tfhub_kit.networks import Network
from tfhub_kit.progress import reporter
from tfhub_kit.recipe import PruneVocabSection, Recipe
from tfhub_kit.tokenizers import TOKENIZER_JSON, TokenizerSpec, bytepair, flat_ids, sentencepiece
from tfhub_kit.tokenizers.build import build_tokenize
from tfhub_kit.tokenizers.bytepair import merge_closure
from tfhub_kit.tokenizers.wordpiece import CountingTokenizer
from tfhub_kit.transforms.result import TransformResult
from tfhub_kit.transforms.tokenizer_json import prune_tokenizer_json

_BRACKETED = re.compile(r"^\[[^\]]+\]$")
_UNUSED = re.compile(r"^\[unused\d+\]$")


@dataclass(frozen=True)
class TokenCounts:
    """How often each token id occurs in a corpus: in how many lines, and in total."""

    lines: int
    line_counts: np.ndarray
    token_counts: np.ndarray

    def to_json(self) -> dict[str, Any]:
        used = np.nonzero(self.token_counts)[0]
        return {
            "lines": self.lines,
            "vocab_size": len(self.token_counts),
            "ids": used.tolist(),
            "line_counts": self.line_counts[used].tolist(),
            "token_counts": self.token_counts[used].tolist(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TokenCounts:
        line_counts = np.zeros(data["vocab_size"], dtype=np.int64)
        token_counts = np.zeros(data["vocab_size"], dtype=np.int64)
        line_counts[data["ids"]] = data["line_counts"]
        token_counts[data["ids"]] = data["token_counts"]
        return cls(data["lines"], line_counts, token_counts)


def count_tokens(
    files: Sequence[str | Path],
    tokenize: Callable[[Any], Any],
    vocab_size: int,
    *,
    batch_size: int = 16384,
    progress: Callable[[str], None] | None = None,
) -> TokenCounts:
    """Stream `files` (one text per line; empty lines skipped) through `tokenize`
    (strings[b] -> int32 ragged [b, (words), (pieces)] or [b, (tokens)]) in parallel batches."""
    import tensorflow as tf

    say = reporter(progress)

    def count(lines: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        lines = tf.boolean_mask(lines, tf.strings.length(lines) > 0)  # per batch: a per-line filter costs 4x
        tokens = tokenize(lines)
        flat = flat_ids(tokens)
        ids = tf.cast(flat.values, tf.int64)
        per_line = tf.unique(flat.value_rowids() * vocab_size + ids).y % vocab_size
        line_counts = tf.math.bincount(
            tf.cast(per_line, tf.int32), minlength=vocab_size, maxlength=vocab_size, dtype=tf.int64
        )
        token_counts = tf.math.bincount(flat.values, minlength=vocab_size, maxlength=vocab_size, dtype=tf.int64)
        return line_counts, token_counts, tf.shape(lines, out_type=tf.int64)[0]

    # Fixed parallelism and no tf.data autotuning: its optimiser thread, joined when the
    # iterator ends, held about every second pass for 0.5-2.5 s after its last batch
    # (TF 2.21; benchmarks/tokenize_families.py).
    options = tf.data.Options()
    options.autotune.enabled = False
    dataset = (
        tf.data.TextLineDataset([str(f) for f in files])
        .batch(batch_size)
        .map(count, num_parallel_calls=usable_cores(), deterministic=False)
        .prefetch(2)
        .with_options(options)
    )
    line_counts = np.zeros(vocab_size, dtype=np.int64)
    token_counts = np.zeros(vocab_size, dtype=np.int64)
    lines, start, last = 0, time.perf_counter(), 0.0
    for batch_lines, batch_tokens, n in dataset:
        line_counts += batch_lines.numpy()
        token_counts += batch_tokens.numpy()
        lines += int(n)
        elapsed = time.perf_counter() - start
        if elapsed - last >= 2:
            last = elapsed
            say(f"  {lines:,} lines, {lines / elapsed:,.0f} lines/s")
    elapsed = max(time.perf_counter() - start, 1e-9)
    say(f"  {lines:,} lines in {elapsed:.1f} s ({lines / elapsed:,.0f} lines/s)")
    return TokenCounts(lines, line_counts, token_counts)


def select_vocab(
    vocab: list[str],
    counts: dict[str, TokenCounts],
    *,
    min_line_fraction: float = 0.00005,
    top_n: int | None = None,
    always_keep: Sequence[str] = (),
    special: Sequence[str] = (),
) -> tuple[list[int], dict[str, dict[str, Any]]]:
    """Old ids of the new vocabulary, in new-id order, and a per-language report."""
    head = [i for i, tok in enumerate(vocab) if tok in special or (_BRACKETED.match(tok) and not _UNUSED.match(tok))]
    kept: set[int] = set()
    per_language: dict[str, dict[str, float]] = {}
    for lang, c in counts.items():
        if top_n is not None:
            used = np.nonzero(c.line_counts)[0]
            ids = used[np.argsort(-c.line_counts[used], kind="stable")[:top_n]]
        else:
            need = max(1, math.ceil(min_line_fraction * c.lines))
            ids = np.nonzero(c.line_counts >= need)[0]
        kept.update(int(i) for i in ids)
        per_language[lang] = {"lines": c.lines, "kept_tokens": len(ids)}
    index = {tok: i for i, tok in enumerate(vocab)}
    kept.update(index[tok] for tok in always_keep if tok in index)
    heads = set(head)
    keep = head + sorted(kept - heads)
    kept_mask = np.zeros(len(vocab), dtype=bool)
    kept_mask[keep] = True
    for lang, c in counts.items():
        total = int(c.token_counts.sum())
        per_language[lang]["token_coverage"] = float(c.token_counts[kept_mask].sum() / total) if total else 1.0
    return keep, per_language


def prune_vocab(
    network: Network,
    tokenizer: TokenizerSpec,
    counts: dict[str, TokenCounts],
    *,
    workdir: Path,
    min_line_fraction: float = 0.00005,
    top_n: int | None = None,
    always_keep: Sequence[str] = (),
):
    """The from-objects form: counts in, pruned network and tokenizer out."""
    vocab = tokenizer.vocab()
    special = list(dataclasses.astuple(tokenizer.special))
    always = [*always_keep, *_required_tokens(tokenizer)]
    keep, per_language = select_vocab(
        vocab, counts, min_line_fraction=min_line_fraction, top_n=top_n, always_keep=always, special=special
    )
    if tokenizer.family == "bytepair":
        index = {tok: i for i, tok in enumerate(vocab)}
        closed = {index[t] for t in merge_closure(tokenizer.tokenizer_json, {vocab[i] for i in keep})}
        keep = keep + sorted(closed - set(keep))
    words_path = network.word_embeddings.path
    old = network.weights_by_path()
    old_ids = np.asarray(keep)

    def weight(path: str) -> np.ndarray:
        return old[path][old_ids] if path == words_path else old[path]

    pruned = network.rebuilt({"vocabulary_size": len(keep)}, weight)
    workdir.mkdir(parents=True, exist_ok=True)
    if tokenizer.family == "wordpiece":
        vocab_file = workdir / "vocab.txt"
        vocab_file.write_text("".join(vocab[i] + "\n" for i in keep), encoding="utf-8")
    else:
        vocab_file = workdir / TOKENIZER_JSON
        pruned_json = prune_tokenizer_json(tokenizer.tokenizer_json, keep)
        vocab_file.write_text(json.dumps(pruned_json, ensure_ascii=False), encoding="utf-8")
    report = {
        "rule": {"top_n": top_n} if top_n is not None else {"min_line_fraction": min_line_fraction},
        "vocab_size_before": len(vocab),
        "vocab_size_after": len(keep),
        "parameters_before": network.parameters(),
        "parameters_after": pruned.parameters(),
        "languages": per_language,
    }
    return TransformResult(pruned, dataclasses.replace(tokenizer, vocab_file=vocab_file), report)


def _required_tokens(tokenizer: TokenizerSpec) -> list[str]:
    if tokenizer.family == "sentencepiece":
        return sentencepiece.required_pieces(tokenizer.tokenizer_json)
    if tokenizer.family == "bytepair":
        return bytepair.required_pieces(tokenizer.tokenizer_json)
    return []


def counting_tokenizer(tokenizer: TokenizerSpec) -> Callable[[Any], Any]:
    """What corpora are counted with: WordPiece's faster counting graph, else the family's
    own `tokenize` (the preprocessor's)."""
    if tokenizer.family == "wordpiece":
        return CountingTokenizer(tokenizer)
    return build_tokenize(tokenizer)


def prune_vocab_from_recipe(
    network: Network,
    tokenizer: TokenizerSpec,
    settings: PruneVocabSection,
    recipe: Recipe,
    *,
    workdir: Path,
    cache_dir: Path,
    progress: Callable[[str], None] | None = None,
):
    """The by-name form: count each language's corpus (or reuse cached counts), then prune."""
    say = reporter(progress)
    tokenize = counting_tokenizer(tokenizer)
    vocab_digest = sha256_file(tokenizer.vocab_file)
    vocab_size = len(tokenizer.vocab())
    counts = {}
    for lang, relative in settings.corpora.items():
        files = [recipe.data_path(f) for f in relative]
        key = hashlib.sha256(
            json.dumps(
                [vocab_digest, tokenizer.lower_case, tokenizer.strip_accents, [sha256_file(f) for f in files]]
            ).encode()
        ).hexdigest()[:16]
        cache = cache_dir / f"counts-{lang}-{key}.json"
        if cache.is_file():
            say(f"counting {lang}: cached in {cache}")
            counts[lang] = TokenCounts.from_json(json.loads(cache.read_text()))
            continue
        say(f"counting {lang}: {', '.join(str(f) for f in files)}")
        counts[lang] = count_tokens(files, tokenize, vocab_size, progress=say)
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(cache.name + ".tmp")
        tmp.write_text(json.dumps(counts[lang].to_json()))
        tmp.replace(cache)
    result = prune_vocab(
        network,
        tokenizer,
        counts,
        workdir=workdir,
        min_line_fraction=settings.min_line_fraction,
        top_n=settings.top_n,
        always_keep=settings.always_keep,
    )
    r = result.report
    say(
        f"vocabulary {r['vocab_size_before']:,} -> {r['vocab_size_after']:,}; parameters "
        f"{r['parameters_before']['total']:,} -> {r['parameters_after']['total']:,}"
    )
    return result
