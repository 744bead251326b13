"""Static distillation (the Model2Vec method): a transformer becomes a token table.

    table = distill_static(network, tokenizer, settings, workdir=work, progress=print)
    table.vectors    # float32 [tokens, pca_dims]; row i embeds table.tokens[i]

Every vocabulary token (minus `remove_tokens` and the [CLS]/[SEP]/[MASK] markers, which
tokenization never yields; for SentencePiece and BPE models every added token but padding
and unknown) and every custom word (WordPiece models) is run through the encoder as
`[CLS] token [SEP]` (`<s> token </s>`; a custom word as its teacher pieces) and mean-pooled
over all positions. PCA, fitted on these unweighted vectors, reduces them to `pca_dims`; each row is
then scaled by the SIF weight a / (a + p(rank)) with Zipf's p proportional to 1/(rank + 2)
in table order. A sentence's vector is the mean of its token rows
(`tfhub_kit.staticmodel`), which is how model2vec's `StaticModel` encodes. The encoder's
matmuls run in bfloat16 where the CPU does that natively (`static.precision: auto`), checked
against float32 on a sample of rows.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from tfhub_kit.cpu import BFLOAT16_FLAGS, native_bfloat16
from tfhub_kit.errors import RecipeError, StaticPrecisionError
from tfhub_kit.metrics import cosine_rows
from tfhub_kit.networks import Network
from tfhub_kit.packed import packed_unsupported, pooled_vectors
from tfhub_kit.progress import bar, reporter
from tfhub_kit.recipe import StaticSection
from tfhub_kit.staticmodel import Pca, StaticTable
from tfhub_kit.tokenizers import TokenizerSpec
from tfhub_kit.tokenizers.wordpiece import Tokenize
from tfhub_kit.transforms.tokenizer_json import prune_tokenizer_json

Progress = Callable[[str], None]
STATIC_VOCAB_FILE = "static_vocab.txt"
PRECISION_SAMPLE = 512
PRECISION_MIN_COSINE = 0.999


def distill_static(
    network: Network,
    tokenizer: TokenizerSpec,
    settings: StaticSection,
    *,
    workdir: Path,
    custom_words: Sequence[str] = (),
    words_file: Path | None = None,
    progress: Progress | None = None,
) -> StaticTable:
    """Embed the vocabulary (plus `custom_words`) through `network` and build the table."""
    say = reporter(progress)
    start = time.perf_counter()
    vocab = tokenizer.vocab()
    kept = static_vocabulary(vocab, tokenizer, settings.remove_tokens)
    sequences = [[old_id] for _, old_id in kept]
    tokens = [tok for tok, _ in kept]
    added, skipped = _custom_word_pieces(custom_words, tokenizer, set(tokens), words_file)
    tokens += [word for word, _ in added]
    sequences += [pieces for _, pieces in added]
    ids = tokenizer.special_ids()
    say(f"embedding {len(tokens):,} tokens as [CLS] token [SEP] ({len(added):,} custom words)")
    specials: dict[str, Any] = {
        "cls_id": ids["start_of_sequence_id"],
        "sep_id": ids["end_of_segment_id"],
        "pad_id": ids["padding_id"],
    }
    precision, reason = choose_precision(settings.precision, network)
    say(f"teacher matmuls in {precision} ({reason})")
    raw = embed_sequences(
        network, sequences, **specials, batch_size=settings.batch_size, precision=precision, progress=say
    )
    precision_check = None
    if precision != "float32":
        sample = np.linspace(0, len(sequences) - 1, min(PRECISION_SAMPLE, len(sequences))).astype(int)
        exact = embed_sequences(network, [sequences[i] for i in sample], **specials, batch_size=settings.batch_size)
        cosine = float(cosine_rows(raw[sample], exact).min())
        say(f"{precision} rows vs float32 on {len(sample)} tokens: lowest cosine {cosine:.6f}")
        precision_check = {"sample": len(sample), "min_cosine": round(cosine, 6)}
        if cosine < PRECISION_MIN_COSINE and settings.precision != "auto":
            raise StaticPrecisionError(
                f"static.precision {precision}: a row's cosine to its float32 row is {cosine:.6f} "
                f"(< {PRECISION_MIN_COSINE}); set static.precision: float32 (or auto) for this model"
            )
        if cosine < PRECISION_MIN_COSINE:
            precision, reason = "float32", f"bfloat16 rows fell to cosine {cosine:.6f} < {PRECISION_MIN_COSINE}"
            say(f"teacher matmuls again in float32 ({reason})")
            raw = embed_sequences(network, sequences, **specials, batch_size=settings.batch_size, progress=say)
    vectors, pca = fit_pca(raw, settings.pca_dims)
    weights = sif_weights(len(tokens), settings.sif_coefficient)
    vectors = (vectors * weights[:, None]).astype(np.float32)
    workdir.mkdir(parents=True, exist_ok=True)
    if tokenizer.family == "wordpiece":
        vocab_file = workdir / STATIC_VOCAB_FILE
        vocab_file.write_text("".join(f"{tok}\n" for tok in tokens), encoding="utf-8")
    else:
        vocab_file = workdir / "tokenizer.json"
        static_json = static_tokenizer_json(tokenizer.tokenizer_json, [i for _, i in kept])
        vocab_file.write_text(json.dumps(static_json, ensure_ascii=False), encoding="utf-8")
    report = {
        "teacher_vocab_size": len(vocab),
        "tokens": len(tokens),
        "custom_words_added": len(added),
        "custom_words_already_in_vocabulary": skipped,
        "teacher_width": int(raw.shape[1]),
        "dim": int(vectors.shape[1]),
        "pca_explained_variance": None if pca is None else round(pca.explained_variance_ratio, 4),
        "precision": precision,
        "precision_requested": settings.precision,
        "precision_reason": reason,
        "precision_check": precision_check,
        "distill_seconds": round(time.perf_counter() - start, 2),
    }
    say(f"static table: {len(tokens):,} x {vectors.shape[1]} ({report['distill_seconds']} s)")
    return StaticTable(
        tokens=tuple(tokens),
        vectors=vectors,
        tokenizer=replace(tokenizer, vocab_file=vocab_file),
        normalize=settings.normalize,
        max_tokens=settings.max_tokens,
        pca=pca,
        settings={
            "pca_dims": settings.pca_dims,
            "sif_coefficient": settings.sif_coefficient,
            "normalize": settings.normalize,
            "max_tokens": settings.max_tokens,
        },
        report=report,
    )


def choose_precision(requested: str, network: Network) -> tuple[str, str]:
    """The precision the teacher's matmuls run in, and why. `auto` takes bfloat16 where this
    CPU runs it natively (`tfhub_kit.cpu`) and the teacher has the padding-free path, else
    float32; a bfloat16 table is then still checked against float32 on a sample of rows."""
    if requested != "auto":
        return requested, "asked for"
    unsupported = packed_unsupported(network)
    if unsupported:
        return "float32", f"auto: no padding-free path ({unsupported})"
    flag = native_bfloat16()
    if flag is None:
        return "float32", f"auto: this CPU has none of {', '.join(BFLOAT16_FLAGS)}"
    return "bfloat16", f"auto: this CPU has {flag}"


def static_vocabulary(vocab: Sequence[str], tokenizer: TokenizerSpec, remove_tokens: str) -> list[tuple[str, int]]:
    """(token, teacher id) for the table: the vocabulary in order, without tokens matching
    `remove_tokens` and without the markers tokenization never yields ([CLS], [SEP], [MASK];
    for SentencePiece and BPE every added token except padding and unknown, as model2vec)."""
    markers = {tokenizer.special.cls, tokenizer.special.sep, tokenizer.special.mask}
    if tokenizer.family != "wordpiece":
        added = {t["content"] for t in tokenizer.tokenizer_json.get("added_tokens") or []}
        markers |= added - {tokenizer.special.pad, tokenizer.special.unk}
    pattern = re.compile(remove_tokens)
    return [(tok, i) for i, tok in enumerate(vocab) if tok not in markers and not pattern.fullmatch(tok)]


def static_tokenizer_json(tok_json: dict[str, Any], keep: list[int]) -> dict[str, Any]:
    """The table's tokenizer.json (SentencePiece and BPE): the teacher's, with only the
    table's tokens, no special-token template and a space before the text, as model2vec
    tokenizes a static model."""
    out = prune_tokenizer_json({**tok_json, "post_processor": None}, keep)
    pre = out.get("pre_tokenizer") or {}
    for step in pre.get("pretokenizers", [pre]):
        if step.get("type") == "ByteLevel":
            step["add_prefix_space"] = True
        elif step.get("type") == "Metaspace":
            step["prepend_scheme"] = "always"
    return out


def read_custom_words(path: Path) -> list[str]:
    """One word per line; blank lines and surrounding white space ignored."""
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def embed_sequences(
    network: Network,
    sequences: Sequence[Sequence[int]],
    *,
    cls_id: int,
    sep_id: int,
    pad_id: int,
    batch_size: int,
    precision: str = "float32",
    progress: Progress | None = None,
) -> np.ndarray:
    """Mean-pooled final hidden states of `[CLS] *ids [SEP]` for each sequence, in input
    order. Sequences are batched by length, so single tokens run without padding; the
    padding-free path (`tfhub_kit.packed`) runs them when the network allows, in `precision`."""
    import tensorflow as tf

    say = reporter(progress)
    spec = tf.TensorSpec([None, None], tf.int32)
    unsupported = packed_unsupported(network)
    if unsupported and precision != "float32":
        raise StaticPrecisionError(f"static.precision {precision} needs the padding-free path: {unsupported}")

    @tf.function(input_signature=[spec, spec])
    def pooled(word_ids: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
        inputs = {"input_word_ids": word_ids, "input_mask": mask, "input_type_ids": tf.zeros_like(word_ids)}
        return pooled_vectors(
            network, inputs, pooling="mean", normalize=False, padding_free=unsupported is None, precision=precision
        )

    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    out = np.zeros((len(sequences), network.hidden_dim), dtype=np.float32)
    start, last_report = time.perf_counter(), 0.0
    batches = range(0, len(order), batch_size)
    for first in bar(batches, total=len(batches), desc="static distillation", unit="batch"):
        rows = order[first : first + batch_size]
        width = max(len(sequences[i]) for i in rows) + 2
        word_ids = np.full((len(rows), width), pad_id, dtype=np.int32)
        mask = np.zeros_like(word_ids)
        for r, i in enumerate(rows):
            seq = [cls_id, *sequences[i], sep_id]
            word_ids[r, : len(seq)] = seq
            mask[r, : len(seq)] = 1
        out[rows] = pooled(word_ids, mask).numpy()
        done, elapsed = first + len(rows), time.perf_counter() - start
        if elapsed - last_report >= 2.0 or done == len(order):
            last_report = elapsed
            say(f"  embedded {done:,}/{len(order):,} tokens ({done / max(elapsed, 1e-9):,.0f} tokens/s)")
    return out


def fit_pca(vectors: np.ndarray, dims: int | None) -> tuple[np.ndarray, Pca | None]:
    """Project onto the top `dims` principal components (eigenvectors of the covariance),
    each signed so its largest-magnitude score is positive. `dims=None`, or fewer tokens
    than `dims`, leaves the vectors as they are; `dims` above the width keeps the width."""
    n, width = vectors.shape
    if dims is None or dims >= n:
        return vectors.astype(np.float32), None
    dims = min(dims, width)
    x = vectors.astype(np.float64)
    mean = x.mean(axis=0)
    centered = x - mean
    eigvals, eigvecs = np.linalg.eigh(centered.T @ centered / (n - 1))
    eigvals, eigvecs = np.clip(eigvals[::-1], 0, None), eigvecs[:, ::-1]
    components = eigvecs[:, :dims]
    scores = centered @ components
    signs = np.sign(scores[np.argmax(np.abs(scores), axis=0), np.arange(dims)])
    signs[signs == 0] = 1
    components = components * signs
    ratio = float(eigvals[:dims].sum() / eigvals.sum()) if eigvals.sum() > 0 else 1.0
    return (scores * signs).astype(np.float32), Pca(mean=mean, components=components, explained_variance_ratio=ratio)


def sif_weights(n: int, coefficient: float | None) -> np.ndarray:
    """w(rank) = a / (a + p(rank)), p(rank) = (1 / (rank + 2)) / sum: Zipf's law over the
    table order, so frequent (early) tokens count less. `None` gives all ones."""
    if coefficient is None:
        return np.ones(n)
    inverse = 1.0 / np.arange(2, n + 2)
    p = inverse / inverse.sum()
    return coefficient / (coefficient + p)


def _custom_word_pieces(
    words: Sequence[str], tokenizer: TokenizerSpec, known: set[str], words_file: Path | None
) -> tuple[list[tuple[str, list[int]]], int]:
    """Normalise each custom word like the teacher, and find its teacher pieces. A word the
    teacher's pre-tokenizer splits (spaces, punctuation, CJK) is refused: tables hold words."""
    if not words:
        return [], 0
    if tokenizer.family != "wordpiece":
        raise RecipeError(
            words_file or Path("(custom words)"),
            "vocabulary",
            f"custom words are not supported yet for a {tokenizer.family} tokenizer",
            allowed="no vocabulary file, or a WordPiece teacher",
            show_value=False,
        )
    import tensorflow as tf

    tokenize = Tokenize(tokenizer)
    split = tokenize.split_words(tf.constant(list(words))).to_list()
    pieces = tokenize(tf.constant(list(words))).merge_dims(1, 2).to_list()
    added: list[tuple[str, list[int]]] = []
    seen, skipped = set(known), 0
    for line, (word, parts, ids) in enumerate(zip(words, split, pieces, strict=False), start=1):
        if len(parts) != 1:
            raise RecipeError(
                words_file or Path("(custom words)"),
                f"line {line}",
                f"the teacher's tokenizer splits this into {len(parts)} words",
                allowed="one word per line, without spaces or punctuation",
                value=word,
            )
        normalized = parts[0].decode("utf-8")
        if normalized in seen:
            skipped += 1
            continue
        seen.add(normalized)
        added.append((normalized, ids))
    return added, skipped
