"""Prune a Hugging Face `tokenizer.json` to a subset of its tokens (SentencePiece and BPE models)."""

from __future__ import annotations

import copy
from typing import Any

from tfhub_kit.tokenizers.bytepair import merges_of
from tfhub_kit.tokenizers.spec import hf_vocab


def prune_tokenizer_json(tok_json: dict[str, Any], keep: list[int]) -> dict[str, Any]:
    """`tok_json` with only the tokens `keep` (old ids, in new-id order): the model's
    vocabulary (and a BPE model's merges among kept pieces), added tokens and the
    post-processor's special-token ids renumbered. HF loads the result as it is."""
    new_id = {old: new for new, old in enumerate(keep)}
    out = copy.deepcopy(tok_json)
    vocab = hf_vocab(tok_json)
    model = out["model"]
    if model["type"] == "Unigram":
        rows = model["vocab"]
        model["vocab"] = [rows[i] for i in keep]
        model["unk_id"] = new_id.get(model.get("unk_id")) if model.get("unk_id") is not None else None
    else:
        kept = {vocab[i] for i in keep}
        model["vocab"] = {vocab[i]: n for n, i in enumerate(keep)}
        merges = model.get("merges", [])
        pairs = merges_of(model)
        model["merges"] = [
            m for m, (a, b) in zip(merges, pairs, strict=False) if a in kept and b in kept and a + b in kept
        ]
    out["added_tokens"] = [
        {**t, "id": new_id[int(t["id"])]} for t in out.get("added_tokens") or [] if int(t["id"]) in new_id
    ]
    _renumber_post_processor(out.get("post_processor"), {vocab[i]: n for n, i in enumerate(keep)})
    return out


def _renumber_post_processor(post: dict[str, Any] | None, ids: dict[str, int]) -> None:
    if not post:
        return
    for key in ("cls", "sep"):  # BertProcessing / RobertaProcessing: [token, id]
        if key in post:
            post[key] = [post[key][0], ids[post[key][0]]]
    for entry in (post.get("special_tokens") or {}).values():  # TemplateProcessing
        entry["ids"] = [ids[t] for t in entry["tokens"]]
    for child in post.get("processors") or []:
        _renumber_post_processor(child, ids)
