"""Build a family's tensorflow-text preprocessing graph from a `TokenizerSpec`."""

from __future__ import annotations

from typing import Any

from tfhub_kit.tokenizers import bytepair, sentencepiece, wordpiece
from tfhub_kit.tokenizers.preprocessor import Preprocessor
from tfhub_kit.tokenizers.spec import TokenizerSpec


def build_preprocessor(spec: TokenizerSpec, seq_length: int) -> Any:
    """The TF Hub text-preprocessing module for `spec` (see `preprocessor.Preprocessor`)."""
    return Preprocessor(build_tokenize(spec), spec, seq_length)


def build_tokenize(spec: TokenizerSpec) -> Any:
    """The `tokenize` module of `spec`'s family: strings[b] -> int32 ragged ids."""
    family = {"wordpiece": wordpiece, "sentencepiece": sentencepiece, "bytepair": bytepair}[spec.family]
    return family.Tokenize(spec)
