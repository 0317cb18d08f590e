"""Token usage reported by a provider for one model call, and its price in USD."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0


@dataclass(slots=True)
class ModelCall:
    """One model call as billed: which provider/model answered, its usage and its price."""

    provider: str
    model: str
    usage: Usage
    cost: float
