"""Tokenizer settings read from a Hugging Face folder, and the preprocessing graphs built
from them with tensorflow-text ops.

    spec = tokenizer_spec_from_hf(folder, "bert")
    pre = build_preprocessor(spec, seq_length=128)   # a tf.Module ready for tf.saved_model.save
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfhub_kit.errors import RecipeError

WORDPIECE_MODEL_TYPES = ("bert", "distilbert")
VOCAB_FILE = "vocab.txt"


@dataclass(frozen=True)
class SpecialTokens:
    cls: str = "[CLS]"
    sep: str = "[SEP]"
    pad: str = "[PAD]"
    mask: str = "[MASK]"
    unk: str = "[UNK]"


@dataclass(frozen=True)
class TokenizerSpec:
    """Everything needed to rebuild a WordPiece tokenizer exactly as Hugging Face runs it."""

    vocab_file: Path
    lower_case: bool
    strip_accents: bool
    split_cjk: bool = True
    special: SpecialTokens = field(default_factory=SpecialTokens)
    max_chars_per_word: int = 100
    suffix_indicator: str = "##"

    def vocab(self) -> list[str]:
        return self.vocab_file.read_text(encoding="utf-8").splitlines()

    def unk_id(self) -> int:
        """The id of the unknown token (the one special token every WordPiece vocabulary needs)."""
        try:
            return self.vocab().index(self.special.unk)
        except ValueError:
            raise RecipeError(
                self.vocab_file,
                "(vocabulary)",
                "the unknown token is missing from the vocabulary",
                allowed=f"a vocabulary with {self.special.unk}",
                show_value=False,
            ) from None

    def special_ids(self) -> dict[str, int]:
        """TF Hub's special-token names mapped to ids in this vocabulary."""
        index = {tok: i for i, tok in enumerate(self.vocab())}
        names = {
            "padding_id": self.special.pad,
            "start_of_sequence_id": self.special.cls,
            "end_of_segment_id": self.special.sep,
            "mask_id": self.special.mask,
            "unk_id": self.special.unk,
        }
        missing = [tok for tok in names.values() if tok not in index]
        if missing:
            raise RecipeError(
                self.vocab_file,
                "(vocabulary)",
                "special tokens are missing from the vocabulary",
                allowed="a vocabulary with " + ", ".join(names.values()),
                value=missing,
            )
        ids = {name: index[tok] for name, tok in names.items()}
        ids["vocab_size"] = len(index)
        return ids


def tokenizer_spec_from_hf(folder: Path, model_type: str) -> TokenizerSpec:
    """Read vocab.txt plus the casing rules of tokenizer.json / tokenizer_config.json."""
    if model_type not in WORDPIECE_MODEL_TYPES:
        raise RecipeError(
            folder / "config.json",
            "model_type",
            "no tokenizer for this model type",
            allowed=", ".join(WORDPIECE_MODEL_TYPES),
            value=model_type,
        )
    vocab = folder / VOCAB_FILE
    if not vocab.is_file():
        raise RecipeError(
            folder,
            "source",
            f"the checkpoint folder has no tokenizer file {VOCAB_FILE}",
            allowed=f"a folder with {VOCAB_FILE} (WordPiece vocabulary, one token per line)",
            show_value=False,
        )
    cfg = _read_json(folder / "tokenizer_config.json")
    lower = bool(cfg.get("do_lower_case", True))
    strip = cfg.get("strip_accents")
    split_cjk = bool(cfg.get("tokenize_chinese_chars", True))
    normalizer = _read_json(folder / "tokenizer.json").get("normalizer") or {}
    if normalizer.get("type") == "BertNormalizer":  # what HF's fast tokenizer really runs
        lower = bool(normalizer.get("lowercase", lower))
        strip = normalizer.get("strip_accents", strip)
        split_cjk = bool(normalizer.get("handle_chinese_chars", split_cjk))
    special_map = _read_json(folder / "special_tokens_map.json")
    special = SpecialTokens(
        **{
            k: _token_text(special_map[f"{k}_token"])
            for k in ("cls", "sep", "pad", "mask", "unk")
            if f"{k}_token" in special_map
        }
    )
    return TokenizerSpec(
        vocab_file=vocab,
        lower_case=lower,
        strip_accents=lower if strip is None else bool(strip),
        split_cjk=split_cjk,
        special=special,
    )


def build_preprocessor(spec: TokenizerSpec, seq_length: int) -> Any:
    """The TF Hub text-preprocessing module for `spec` (see `wordpiece.Preprocessor`)."""
    from tfhub_kit.tokenizers.wordpiece import Preprocessor

    return Preprocessor(spec, seq_length)


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RecipeError(path, "(file)", f"not valid JSON ({exc})", show_value=False) from exc


def _token_text(value: Any) -> str:
    return value["content"] if isinstance(value, dict) else str(value)
