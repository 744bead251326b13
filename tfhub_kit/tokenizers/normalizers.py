"""Hugging Face `tokenizer.json` normalisers and whitespace pre-tokenisation as TF string ops.

    normalize, charsmap = hf_normalizer(tok_json, file)
    text = normalize(strings)      # every step except a SentencePiece `Precompiled` charsmap

A `Precompiled` step (SentencePiece's own normalisation rules) cannot run as a TF string op;
its charsmap is handed back for the SentencePiece op to run, which is only the same thing
when no other rewriting step follows it (collapsing runs of spaces may: SentencePiece does it).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tensorflow as tf
import tensorflow_text as tf_text

from tfhub_kit.errors import RecipeError

WHITESPACE = r"\t\n\x0B\f\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}"
"""Unicode's White_Space characters, as an RE2 character-class body (RE2's \\s is ASCII only)."""

Normalize = Callable[[tf.Tensor], tf.Tensor]
_SUPPORTED = "Sequence, Replace, NFC, NFD, NFKC, NFKD, StripAccents, Lowercase, Strip, Precompiled"


def hf_normalizer(tok_json: dict[str, Any], file: Path) -> tuple[Normalize, bytes | None]:
    """(TF function applying the normaliser's steps, Precompiled charsmap or None)."""
    steps = _flatten(tok_json.get("normalizer"))
    charsmap = None
    fns: list[Normalize] = []
    for i, step in enumerate(steps):
        kind = step.get("type")
        if kind == "Precompiled":
            charsmap = base64.b64decode(step.get("precompiled_charsmap") or "")
            later = [s for s in steps[i + 1 :] if not _collapses_spaces(s)]
            if later:
                raise RecipeError(
                    file,
                    "normalizer",
                    "a Precompiled charsmap followed by other rewriting steps is not supported",
                    allowed="Precompiled as the last step (space collapsing may follow)",
                    value=[s.get("type") for s in later],
                )
            break
        fns.append(_step(step, file))

    def normalize(text: tf.Tensor) -> tf.Tensor:
        for fn in fns:
            text = fn(text)
        return text

    return normalize, (charsmap or None)


def lowercase(text: tf.Tensor) -> tf.Tensor:
    """Lowercase character by character, as HF does: no final-sigma rule, unlike ICU."""
    text = tf.strings.regex_replace(text, "\u03a3", "\u03c3")
    return tf.strings.lower(text, encoding="utf-8")


def strip_marks(text: tf.Tensor) -> tf.Tensor:
    """Drop nonspacing marks (HF's StripAccents, after an NFD/NFKD step)."""
    return tf.strings.regex_replace(text, r"\p{Mn}", "")


def _flatten(step: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not step:
        return []
    if step.get("type") == "Sequence":
        return [s for child in step.get("normalizers", []) for s in _flatten(child)]
    return [step]


def _collapses_spaces(step: dict[str, Any]) -> bool:
    return step.get("type") == "Replace" and step.get("pattern") == {"Regex": " {2,}"} and step.get("content") == " "


def _step(step: dict[str, Any], file: Path) -> Normalize:
    kind = step.get("type")
    if kind in ("NFC", "NFD", "NFKC", "NFKD"):
        return lambda t: tf_text.normalize_utf8(t, kind)
    if kind == "StripAccents":
        return strip_marks
    if kind == "Lowercase":
        return lowercase
    if kind == "Strip":
        left, right = step.get("strip_left", True), step.get("strip_right", True)
        pattern = "|".join(p for p, on in ((f"^[{WHITESPACE}]+", left), (f"[{WHITESPACE}]+$", right)) if on)
        return lambda t: tf.strings.regex_replace(t, pattern, "") if pattern else t
    if kind == "Replace":
        spec: dict[str, str] = step.get("pattern") or {}
        regex = spec["Regex"] if "Regex" in spec else r"\Q" + spec.get("String", "") + r"\E"
        content = str(step.get("content", "")).replace("\\", "\\\\")
        return lambda t: tf.strings.regex_replace(t, regex, content)
    raise RecipeError(file, "normalizer", "this normaliser step is not supported", allowed=_SUPPORTED, value=kind)
