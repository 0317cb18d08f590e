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


@dataclass(frozen=True, slots=True)
class KnowledgeBaseCall:
    """One knowledge-base search's embedding call as billed (Vapi's `KnowledgeBaseCost`): the embedding
    model, the tokens embedded and their price."""

    provider: str
    model: str
    prompt_tokens: int
    cost: float

    def as_model_call(self) -> ModelCall:
        """The call as usage limits and metrics count calls: its tokens are prompt tokens."""
        return ModelCall(self.provider, self.model, Usage(prompt_tokens=self.prompt_tokens), self.cost)
