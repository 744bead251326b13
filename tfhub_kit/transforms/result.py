"""What every transform returns: the new network and tokenizer, and a report for the manifest."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tfhub_kit.networks import Network
from tfhub_kit.tokenizers import TokenizerSpec


@dataclass(frozen=True)
class TransformResult:
    network: Network
    tokenizer: TokenizerSpec
    report: dict[str, Any]
