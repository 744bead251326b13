"""Readers for the text data sets recipes name, shared by evaluate, transforms and training.

    first, second, scores = read_sts("data/korsts/sts-train.tsv", "korsts_tsv")
    triples = read_nli_triples("data/kornli/xnli.dev.ko.tsv", "kornli_tsv")   # (premise, entail, contradict)
    sources, translations = read_parallel("a.en", "a.ko")
    sentences = read_sentences(["corpus.txt"], max_sentences=100_000)

Every reader raises `RecipeError` naming the file and line when a row cannot be read.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

from tfhub_kit.errors import RecipeError

STS_FORMATS = ("stsb_csv", "korsts_tsv")
NLI_FORMATS = ("kornli_tsv", "klue_json")
TEXT_FORMATS = ("lines", "nsmc_tsv")


def read_sts(path: str | Path, fmt: str) -> tuple[list[str], list[str], list[float]]:
    """Sentence pairs and gold scores (0-5) from an STS-B CSV (s1, s2, score; no header) or a
    KorSTS TSV (header; score in column 5, sentences in columns 6 and 7)."""
    first, second, scores = [], [], []
    with open(path, newline="", encoding="utf-8") as f:
        if fmt == "stsb_csv":
            rows = enumerate(csv.reader(f), start=1)
            columns = (0, 1, 2)
        elif fmt == "korsts_tsv":
            reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            next(reader)
            rows = enumerate(reader, start=2)
            columns = (5, 6, 4)
        else:
            raise RecipeError(path, "format", "unknown STS format", allowed=", ".join(STS_FORMATS), value=fmt)
        for line, row in rows:
            try:
                a, b, score = row[columns[0]], row[columns[1]], float(row[columns[2]])
            except (IndexError, ValueError):
                raise RecipeError(path, f"line {line}", f"not a {fmt} row", value=row) from None
            first.append(a)
            second.append(b)
            scores.append(score)
    return first, second, scores


def read_nli_triples(path: str | Path, fmt: str) -> list[tuple[str, str, str]]:
    """(premise, entailed hypothesis, contradicting hypothesis) for every premise that has
    both, in file order: the supervised SimCSE triples. KorNLI TSV (sentence1, sentence2,
    gold_label) or KLUE NLI JSON (a list of {premise, hypothesis, gold_label})."""
    pairs: list[tuple[str, str, str]] = []
    if fmt == "kornli_tsv":
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            next(reader)
            for line, row in enumerate(reader, start=2):
                if len(row) < 3:
                    raise RecipeError(
                        path, f"line {line}", "not a KorNLI row (sentence1, sentence2, gold_label)", value=row
                    )
                pairs.append((row[0], row[1], row[2]))
    elif fmt == "klue_json":
        items = json.loads(Path(path).read_text(encoding="utf-8"))
        for i, item in enumerate(items):
            try:
                pairs.append((item["premise"], item["hypothesis"], item["gold_label"]))
            except (KeyError, TypeError):
                raise RecipeError(path, f"item {i}", "not a KLUE NLI item (premise, hypothesis, gold_label)") from None
    else:
        raise RecipeError(path, "format", "unknown NLI format", allowed=", ".join(NLI_FORMATS), value=fmt)
    entail: dict[str, str] = {}
    contra: dict[str, str] = {}
    order: list[str] = []
    for premise, hypothesis, label in pairs:
        if premise not in entail and premise not in contra:
            order.append(premise)
        if label == "entailment":
            entail.setdefault(premise, hypothesis)
        elif label == "contradiction":
            contra.setdefault(premise, hypothesis)
    return [(p, entail[p], contra[p]) for p in order if p in entail and p in contra]


def read_text(path: str | Path, fmt: str = "lines") -> list[str]:
    """Non-empty texts: one per line (`lines`), the review column of NSMC's TSV (`nsmc_tsv`),
    or every distinct sentence of an STS or NLI file, in file order."""
    if fmt in STS_FORMATS:
        first, second, _ = read_sts(path, fmt)
        texts = list(dict.fromkeys(s for pair in zip(first, second, strict=False) for s in pair))
    elif fmt in NLI_FORMATS:
        texts = list(dict.fromkeys(s for t in read_nli_triples(path, fmt) for s in t))
    elif fmt == "lines":
        texts = read_lines(path)
    elif fmt == "nsmc_tsv":
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            next(reader)
            texts = [row[1] for row in reader if len(row) > 1]
    else:
        allowed = ", ".join(TEXT_FORMATS + STS_FORMATS + NLI_FORMATS)
        raise RecipeError(path, "format", "unknown text format", allowed=allowed, value=fmt)
    return [t.strip() for t in texts if t.strip()]


def read_parallel(
    source: str | Path, target: str | Path, source_format: str = "lines", target_format: str = "lines"
) -> tuple[list[str], list[str]]:
    """Two row-aligned files (a sentence and its translation per row): plain lines, or STS
    files whose rows are translations (each row gives its two sentences). Both must have the
    same number of rows. Pairs with an empty side are dropped."""
    a, b = _aligned_sentences(source, source_format), _aligned_sentences(target, target_format)
    if len(a) != len(b):
        raise RecipeError(
            target, "(rows)", f"gives {len(b)} sentences but {source} gives {len(a)}; they must align", show_value=False
        )
    kept = [(x.strip(), y.strip()) for x, y in zip(a, b, strict=False) if x.strip() and y.strip()]
    return [x for x, _ in kept], [y for _, y in kept]


def read_cross_lingual_sts(
    source: str | Path, target: str | Path, source_format: str, target_format: str
) -> tuple[list[str], list[str], list[float]]:
    """Scored pairs across two STS files translated row by row: each row gives (the source's
    first sentence, the target's second) and (the target's first, the source's second) with
    the target's score."""
    a1, a2, _ = read_sts(source, source_format)
    b1, b2, scores = read_sts(target, target_format)
    if len(a1) != len(b1):
        raise RecipeError(
            target,
            "(rows)",
            f"holds {len(b1)} scored pairs but {source} holds {len(a1)}; they must align",
            show_value=False,
        )
    first = [x for pair in zip(a1, b1, strict=False) for x in pair]
    second = [x for pair in zip(b2, a2, strict=False) for x in pair]
    return first, second, [s for s in scores for _ in range(2)]


def _aligned_sentences(path: str | Path, fmt: str) -> list[str]:
    if fmt in STS_FORMATS:
        first, second, _ = read_sts(path, fmt)
        return [s for pair in zip(first, second, strict=False) for s in pair]
    return read_lines(path)


def first_non_utf8_line(path: str | Path) -> tuple[int, str] | None:
    """(line number, what is wrong) of the first line of `path` that is not UTF-8 (an optional
    byte-order mark at the start is allowed), or None if the whole file decodes."""
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                return number, f"byte 0x{raw[exc.start]:02x} at column {exc.start + 1} is not UTF-8"
    return None


def read_lines(path: str | Path) -> list[str]:
    return Path(path).read_text(encoding="utf-8").splitlines()


def read_sentences(files: Sequence[Path], *, max_sentences: int) -> list[str]:
    """Unique non-empty lines of `files`, in order, at most `max_sentences`."""
    seen: set[str] = set()
    out: list[str] = []
    for path in files:
        with open(path, encoding="utf-8") as f:
            for line in f:
                text = line.strip()
                if text and text not in seen:
                    seen.add(text)
                    out.append(text)
                    if len(out) >= max_sentences:
                        return out
    return out
