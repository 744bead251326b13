"""Vocabulary extension: add the word pieces a new language needs, before training on it.

    result = extend_vocab_from_recipe(network, tokenizer, settings, recipe, workdir=tmp, cache_dir=cache)

A WordPiece vocabulary of `size` tokens is learned from the corpora with tensorflow-text's
learner, on text normalised exactly as the model's preprocessor normalises it; the learned
tokens the vocabulary lacks are appended after the existing ones (ids of existing tokens do
not change). Each new token's embedding row starts as the mean of the rows of the pieces the
old vocabulary spells it with (its characters), so the network starts where the old
tokenization left it; training then refines the rows.

Why: an English WordPiece model sees Korean as single jamo (NFD splits each syllable) and
has no piece for some of them, so frequent words become [UNK] and sentences run three times
longer than they need to.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from tfhub_kit.datasets import read_text
from tfhub_kit.files import sha256_file
from tfhub_kit.networks import Network
from tfhub_kit.progress import reporter
from tfhub_kit.recipe import ExtendVocabSection, Recipe
from tfhub_kit.tokenizers import TokenizerSpec
from tfhub_kit.transforms.result import TransformResult
from tfhub_kit.vocab import learn_wordpiece_vocab

_BRACKETED = re.compile(r"^\[[^\]]+\]$")


def extend_vocab(network: Network, tokenizer: TokenizerSpec, learned: Sequence[str], *, workdir: Path):
    """The from-objects form: append the `learned` tokens the vocabulary lacks."""
    vocab = tokenizer.vocab()
    index = {tok: i for i, tok in enumerate(vocab)}
    added = [t for t in dict.fromkeys(learned) if t not in index and not _BRACKETED.match(t) and t.strip("#")]
    words_path = network.word_embeddings.path
    old = network.weights_by_path()
    table = old[words_path]
    unk = index[tokenizer.special.unk]
    rows = (
        np.stack([_initial_row(tok, index, table, unk, tokenizer.suffix_indicator) for tok in added]) if added else None
    )

    def weight(path: str) -> np.ndarray:
        if path == words_path and rows is not None:
            return np.concatenate([table, rows.astype(table.dtype)])
        return old[path]

    extended = network.rebuilt({"vocabulary_size": len(vocab) + len(added)}, weight)
    workdir.mkdir(parents=True, exist_ok=True)
    vocab_file = workdir / "vocab.txt"
    vocab_file.write_text("".join(t + "\n" for t in [*vocab, *added]), encoding="utf-8")
    report = {
        "vocab_size_before": len(vocab),
        "vocab_size_after": len(vocab) + len(added),
        "added_tokens": len(added),
        "parameters_before": network.parameters(),
        "parameters_after": extended.parameters(),
        "examples": added[:20],
    }
    return TransformResult(extended, dataclasses.replace(tokenizer, vocab_file=vocab_file), report)


def extend_vocab_from_recipe(
    network: Network,
    tokenizer: TokenizerSpec,
    settings: ExtendVocabSection,
    recipe: Recipe,
    *,
    workdir: Path,
    cache_dir: Path,
    progress: Callable[[str], None] | None = None,
):
    """The by-name form: read the recipe's learned vocabulary, or learn (or reuse the cached)
    vocabulary of its corpora, then extend."""

    say = reporter(progress)
    if settings.vocab:
        learned = recipe.data_path(settings.vocab).read_text(encoding="utf-8").splitlines()
        return _extend(network, tokenizer, learned, workdir=workdir, say=say)
    files = [recipe.data_path(item.path) for item in settings.corpora]
    key = hashlib.sha256(
        json.dumps(
            [
                [sha256_file(f) for f in files],
                [dataclasses.asdict(item) for item in settings.corpora],
                settings.size,
                tokenizer.lower_case,
                tokenizer.strip_accents,
            ]
        ).encode()
    ).hexdigest()[:16]
    cache = cache_dir / f"learned-vocab-{key}.txt"
    if cache.is_file():
        say(f"learned vocabulary from cache {cache}")
        learned = cache.read_text(encoding="utf-8").splitlines()
    else:
        workdir.mkdir(parents=True, exist_ok=True)
        corpus = workdir / "extend-vocab-corpus.txt"
        lines = [
            t for item in settings.corpora for t in read_text(recipe.data_path(item.path), item.format)[: item.max_rows]
        ]
        corpus.write_text("".join(line.replace("\n", " ") + "\n" for line in lines), encoding="utf-8")
        say(f"learning a {settings.size:,}-token vocabulary from {len(lines):,} lines")
        learned = learn_wordpiece_vocab(
            [corpus], vocab_size=settings.size, lower_case=tokenizer.lower_case, strip_accents=tokenizer.strip_accents
        )
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(cache.name + ".tmp")
        tmp.write_text("".join(t + "\n" for t in learned), encoding="utf-8")
        tmp.replace(cache)
    return _extend(network, tokenizer, learned, workdir=workdir, say=say)


def _extend(
    network: Network, tokenizer: TokenizerSpec, learned: list[str], *, workdir: Path, say: Callable[[str], None]
):
    result = extend_vocab(network, tokenizer, learned, workdir=workdir)
    r = result.report
    say(f"vocabulary {r['vocab_size_before']:,} -> {r['vocab_size_after']:,} ({r['added_tokens']:,} tokens added)")
    return result


def _initial_row(token: str, index: dict[str, int], table: np.ndarray, unk: int, suffix: str) -> np.ndarray:
    """Mean of the rows of the token's characters as the old vocabulary spells them
    (the first as a word start unless the token is itself a suffix piece)."""
    is_suffix = token.startswith(suffix)
    chars = token[len(suffix) :] if is_suffix else token
    ids = []
    for i, char in enumerate(chars):
        piece = char if i == 0 and not is_suffix else suffix + char
        ids.append(index.get(piece, index.get(char, unk)))
    known = [i for i in ids if i != unk] or [unk]
    return table[known].mean(axis=0)
