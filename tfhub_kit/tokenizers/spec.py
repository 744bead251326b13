"""What a checkpoint's tokenizer is: family, vocabulary file, special tokens and packing rule,
read from a Hugging Face folder (`tokenizer.json`, `tokenizer_config.json`, `vocab.txt`).

Plain Python (no TensorFlow): every stage that needs to know about the tokenizer reads this.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from tfhub_kit.errors import RecipeError

VOCAB_FILE = "vocab.txt"
TOKENIZER_JSON = "tokenizer.json"
_HF_MODEL_FAMILY = {"WordPiece": "wordpiece", "Unigram": "sentencepiece", "BPE": "bytepair"}


@dataclass(frozen=True)
class SpecialTokens:
    cls: str = "[CLS]"
    sep: str = "[SEP]"
    pad: str = "[PAD]"
    mask: str = "[MASK]"
    unk: str = "[UNK]"


@dataclass(frozen=True)
class TokenizerSpec:
    """Everything needed to rebuild a checkpoint's tokenizer exactly as Hugging Face runs it.

    `vocab_file` is the file that defines the vocabulary: `vocab.txt` for WordPiece,
    `tokenizer.json` for the other families (its model, normaliser and pre-tokenizer).
    """

    vocab_file: Path
    lower_case: bool = False
    strip_accents: bool = False
    split_cjk: bool = True
    special: SpecialTokens = field(default_factory=SpecialTokens)
    max_chars_per_word: int = 100
    suffix_indicator: str = "##"
    family: str = "wordpiece"
    packing: str = "bert"

    def vocab(self) -> list[str]:
        """Tokens in id order."""
        if self.family == "wordpiece":
            return self.vocab_file.read_text(encoding="utf-8").splitlines()
        return hf_vocab(self.tokenizer_json)

    @cached_property
    def tokenizer_json(self) -> dict[str, Any]:
        """The parsed `tokenizer.json` (families other than WordPiece)."""
        return _read_json(self.vocab_file)

    def unk_id(self) -> int:
        """The id of the unknown token."""
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

    def describe(self) -> dict[str, str]:
        """What manifest.json records: {"family", "packing"}."""
        return {"family": self.family, "packing": self.packing}


def tokenizer_spec_from_hf(folder: Path, model_type: str) -> TokenizerSpec:
    """Read the tokenizer of a Hugging Face folder: family and normaliser from
    `tokenizer.json`, packing from its post-processor, special tokens from
    `tokenizer_config.json` / `special_tokens_map.json`; `vocab.txt` alone is WordPiece."""
    tok_json = _read_json(folder / TOKENIZER_JSON)
    hf_type = (tok_json.get("model") or {}).get("type")
    if tok_json and hf_type not in _HF_MODEL_FAMILY:
        raise RecipeError(
            folder / TOKENIZER_JSON,
            "model.type",
            "no tensorflow-text tokenizer for this model type",
            allowed=", ".join(_HF_MODEL_FAMILY),
            value=hf_type,
        )
    family = _HF_MODEL_FAMILY[str(hf_type)] if tok_json else "wordpiece"
    packing = _packing_rule(folder / TOKENIZER_JSON, tok_json.get("post_processor"), model_type)
    special = _special_tokens(folder, family)
    if family == "wordpiece":
        return _wordpiece_spec(folder, tok_json, special, packing)
    return TokenizerSpec(
        vocab_file=folder / TOKENIZER_JSON,
        special=special,
        family=family,
        packing=packing,
    )


def flat_ids(tokens: Any) -> Any:
    """Ragged ids [b, (tokens)] from a family's `tokenize` output ([b, (words), (pieces)] or
    already [b, (pieces)])."""
    return tokens.merge_dims(1, 2) if tokens.ragged_rank == 2 else tokens


def hf_vocab(tok_json: dict[str, Any]) -> list[str]:
    """Tokens of a `tokenizer.json` in id order: the model's vocabulary plus added tokens."""
    model = tok_json["model"]
    vocab = model["vocab"]
    by_id = {i: row[0] for i, row in enumerate(vocab)} if isinstance(vocab, list) else {i: t for t, i in vocab.items()}
    for added in tok_json.get("added_tokens") or []:
        by_id[int(added["id"])] = added["content"]
    size = max(by_id) + 1
    return [by_id.get(i, f"<unused{i}>") for i in range(size)]


def _wordpiece_spec(folder: Path, tok_json: dict[str, Any], special: SpecialTokens, packing: str) -> TokenizerSpec:
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
    normalizer = tok_json.get("normalizer") or {}
    if normalizer.get("type") == "BertNormalizer":  # what HF's fast tokenizer really runs
        lower = bool(normalizer.get("lowercase", lower))
        strip = normalizer.get("strip_accents", strip)
        split_cjk = bool(normalizer.get("handle_chinese_chars", split_cjk))
    return TokenizerSpec(
        vocab_file=vocab,
        lower_case=lower,
        strip_accents=lower if strip is None else bool(strip),
        split_cjk=split_cjk,
        special=special,
        packing=packing,
    )


def _special_tokens(folder: Path, family: str) -> SpecialTokens:
    """Special tokens named by special_tokens_map.json, else tokenizer_config.json."""
    names = ("cls", "sep", "pad", "mask", "unk")
    found: dict[str, str] = {}
    for file in ("tokenizer_config.json", "special_tokens_map.json"):
        data = _read_json(folder / file)
        found.update({k: _token_text(data[f"{k}_token"]) for k in names if data.get(f"{k}_token") is not None})
    if family != "wordpiece":  # no BERT defaults outside WordPiece: the files must say
        missing = [k for k in names if k not in found]
        if missing:
            raise RecipeError(
                folder / "tokenizer_config.json",
                ", ".join(f"{k}_token" for k in missing),
                "special tokens are not named",
                allowed="cls_token, sep_token, pad_token, mask_token and unk_token in tokenizer_config.json "
                "or special_tokens_map.json",
                show_value=False,
            )
    return SpecialTokens(**found)


def _packing_rule(file: Path, post: dict[str, Any] | None, model_type: str) -> str:
    """`bert` or `roberta`, from tokenizer.json's post-processor (model type if absent)."""
    if not post:
        return "roberta" if model_type in ("roberta", "xlm-roberta", "bart", "camembert") else "bert"
    kind = post.get("type")
    if kind == "Sequence":
        found = [p for p in post.get("processors", []) if p.get("type") != "ByteLevel"]
        return _packing_rule(file, found[0] if found else None, model_type)
    if kind == "BertProcessing":
        return "bert"
    if kind == "RobertaProcessing":
        return "roberta"
    if kind == "TemplateProcessing":
        pair = [next(iter(item)) + ":" + str(next(iter(item.values()))["type_id"]) for item in post.get("pair", [])]
        # e.g. SpecialToken:0 Sequence:0 SpecialToken:0 SpecialToken:0 Sequence:0 SpecialToken:0
        kinds = [p.split(":")[0] for p in pair]
        if kinds == ["SpecialToken", "Sequence", "SpecialToken", "Sequence", "SpecialToken"] and pair[3].endswith(":1"):
            return "bert"
        if kinds == ["SpecialToken", "Sequence", "SpecialToken", "SpecialToken", "Sequence", "SpecialToken"]:
            return "roberta"
    raise RecipeError(
        file,
        "post_processor",
        "this packing of special tokens is not supported",
        allowed="[CLS] a [SEP] b [SEP] with type ids 0/1 (bert) or <s> a </s></s> b </s> (roberta)",
        value=kind,
    )


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RecipeError(path, "(file)", f"not valid JSON ({exc})", show_value=False) from exc


def _token_text(value: Any) -> str:
    return value["content"] if isinstance(value, dict) else str(value)
