"""Turn a parsed YAML mapping into the schema's dataclasses, checking each field's type and rule.

Every problem raises `RecipeError` naming the file, the dotted field (`train.objectives[0].sts.loss`),
the value received (cut short) and what is allowed.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal

from tfhub_kit.errors import RecipeError
from tfhub_kit.recipe.schema import NAME_RE, PUBLISHER_RE, SAVED_MODEL_KINDS


def _is_regex(value: str) -> bool:
    try:
        re.compile(value)
    except re.error:
        return False
    return True


CHECKS: dict[str, tuple[typing.Callable[[Any], bool], str]] = {
    "publisher": (lambda v: bool(PUBLISHER_RE.match(v)), "lowercase letters, digits and '-'"),
    "name": (lambda v: bool(NAME_RE.match(v)), "letters, digits, '_', '.' and '-'"),
    "positive": (lambda v: v >= 1, "an integer >= 1"),
    "nonempty": (lambda v: bool(v.strip()) and "\n" not in v.strip(), "one non-empty line"),
    "seq_length": (lambda v: 8 <= v <= 8192, "an integer from 8 to 8192"),
    "saved_models": (
        lambda v: bool(set(v) & set(SAVED_MODEL_KINDS)),
        (
            "a list naming at least one SavedModel (encoder, preprocess, embedding), plus keras_preset or "
            "text_generation (BART) if wanted"
        ),
    ),
    "tolerance": (lambda v: 0 < v < 1, "a number between 0 and 1, e.g. 1e-5"),
    "fraction": (lambda v: 0 <= v < 1, "a fraction from 0 to 1, e.g. 0.00005 for 0.005%"),
    "layers": (lambda v: len(v) > 0 and min(v) >= 0 and list(v) == sorted(set(v)), "ascending layer indices from 0"),
    "gcs": (
        lambda v: bool(re.match(r"^gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/[^\s]*)?$", v)),
        "gs://BUCKET or gs://BUCKET/PREFIX",
    ),
    "nonempty_list": (lambda v: len(v) > 0, "a non-empty list"),
    "handles": (
        lambda v: all(re.fullmatch(r"[a-z0-9-]+/[A-Za-z0-9_.-]+/[1-9][0-9]*", h) for h in v),
        "build handles PUBLISHER/NAME/VERSION, e.g. tfhub-kit/all_minilm_l6_v2/1",
    ),
    "non_negative": (lambda v: v >= 0, "an integer >= 0"),
    "weight": (lambda v: v > 0, "a number > 0"),
    "temperature": (lambda v: 0 < v <= 10, "a number in (0, 10], e.g. 0.05"),
    "learning_rate": (lambda v: 0 < v < 1, "a number between 0 and 1, e.g. 1e-3"),
    "sif": (lambda v: v is None or 0 < v < 1, "a number between 0 and 1 (e.g. 1e-4), or null for no weighting"),
    "regex": (_is_regex, "a Python regular expression"),
    "https": (lambda v: v.startswith(("https://", "http://")), "an http(s) URL"),
    "kaggle": (
        lambda v: v.startswith("kaggle://"),
        "kaggle://OWNER/MODEL/tensorFlow2/VARIATION or kaggle://OWNER/MODEL/keras/VARIATION",
    ),
}


def parse_fields(
    cls: type, data: Any, file: Path, prefix: str, skip: frozenset[str] | set[str] = frozenset()
) -> dict[str, Any]:
    where = prefix.rstrip(".") or "(top level)"
    if not isinstance(data, dict):
        raise RecipeError(file, where, "must be a mapping", value=data)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in skip}
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise RecipeError(
            file,
            prefix + str(unknown[0]),
            "unknown field",
            allowed=", ".join(fields),
            value=unknown[0],
            show_value=False,
        )
    out: dict[str, Any] = {}
    for name, f in fields.items():
        dotted = prefix + name
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise RecipeError(file, dotted, "is required but missing", show_value=False)
            continue
        value = _coerce(hints[name], data[name], file, dotted)
        check = f.metadata.get("check")
        if check:
            ok, allowed = CHECKS[check]
            if value is not None and not ok(value):
                raise RecipeError(file, dotted, "has a value that is not allowed", allowed=allowed, value=value)
        out[name] = value
    return out


def _coerce(tp: Any, value: Any, file: Path, dotted: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(inner, value, file, dotted)
    if origin is Literal:
        if value not in args:
            raise RecipeError(
                file, dotted, "has a value that is not allowed", allowed=", ".join(map(str, args)), value=value
            )
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise RecipeError(file, dotted, "must be a list", value=value)
        items = tuple(_coerce(args[0], v, file, f"{dotted}[{i}]") for i, v in enumerate(value))
        if len({repr(item) for item in items}) != len(items):
            raise RecipeError(file, dotted, "lists a value twice", value=value)
        return items
    if origin is dict:
        if not isinstance(value, dict) or not value:
            raise RecipeError(file, dotted, "must be a non-empty mapping", value=value)
        return {str(k): _coerce(args[1], v, file, f"{dotted}.{k}") for k, v in value.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return tp(**parse_fields(tp, value, file, prefix=dotted + "."))
    if tp is bool or tp is str:
        if not isinstance(value, tp):
            raise RecipeError(file, dotted, f"must be a {tp.__name__}", value=value)
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise RecipeError(file, dotted, "must be an integer", value=value)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RecipeError(file, dotted, "must be a number", value=value)
        return float(value)
    raise TypeError(f"recipe field type {tp!r} is not supported")  # a bug in this module
