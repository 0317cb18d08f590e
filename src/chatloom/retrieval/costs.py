"""Costs: a knowledge-base search's (or indexing's) embedding tokens as Vapi's `KnowledgeBaseCost` line,
`{"type": "knowledge-base", "model", "promptTokens", "completionTokens", "cost"}`.

Prices come from the caller's price book (the engine's `PriceBook`, which knows the providers' embedding
models and takes operator overrides); a model it has no price for costs 0.
"""

from __future__ import annotations

from typing import Any, Protocol

from chatloom.domain.usage import Usage


class Prices(Protocol):
    def cost(self, provider: str, model: str, usage: Usage) -> float: ...


def knowledge_base_cost(provider: str, model: str, prompt_tokens: int, prices: Prices) -> dict[str, Any]:
    """The cost line of `prompt_tokens` embedded by `provider`'s `model`."""
    usage = Usage(prompt_tokens=max(0, prompt_tokens))
    return {
        "type": "knowledge-base",
        "model": {"provider": provider, "model": model},
        "promptTokens": usage.prompt_tokens,
        "completionTokens": 0,
        "cost": prices.cost(provider, model, usage),
    }
