"""Typed views of Vapi documents: an assistant's `model`, read once into typed fields. The document itself
stays open (unknown fields round-trip, `raw` keeps it); the engine reads it through the view only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chatloom.domain.errors import InvalidRequest


@dataclass(frozen=True, slots=True)
class ModelView:
    """An assistant's `model`: provider and model name, where and how to call it, and its tools."""

    raw: dict[str, Any]
    provider: str
    name: str
    url: Any
    """`model.url` (custom-llm), checked by the provider registry."""
    headers: Any
    """`model.headers` (custom-llm), as given."""
    temperature: float | None
    max_tokens: int | None
    timeout_seconds: float | None
    thinking_budget_tokens: int | None
    """Vapi's `thinking: {"type": "enabled", "budgetTokens": N}`."""
    reasoning_effort: str | None
    """Vapi's `reasoningEffort`, unless the turn's request asks for its own."""
    prompt_cache_key: str | None
    """Vapi's `promptCacheKey`, unless the turn's request gives its own."""
    fallback_models: tuple[str, ...]
    tools: tuple[dict[str, Any], ...]
    """The inline `model.tools` (objects only)."""
    tool_ids: tuple[str, ...]
    """`model.toolIds`: stored tools, in that order."""

    @classmethod
    def of(cls, assistant: Mapping[str, Any]) -> ModelView:
        """The view of an assistant's model; a 400 when it has none."""
        model = assistant.get("model")
        if not isinstance(model, dict):
            raise InvalidRequest("the assistant has no model; set assistant.model", field="assistant.model")
        return cls.of_model(model)

    @classmethod
    def of_model(cls, model: dict[str, Any]) -> ModelView:
        max_tokens, name = model.get("maxTokens"), model.get("model")
        if name is None:
            raise InvalidRequest("the assistant's model names no model; set model.model", field="model.model")
        return cls(
            raw=model,
            provider=str(model.get("provider")),
            name=str(name),
            url=model.get("url"),
            headers=model.get("headers"),
            temperature=model.get("temperature"),
            max_tokens=int(max_tokens) if max_tokens is not None else None,
            timeout_seconds=model.get("timeoutSeconds") or None,
            thinking_budget_tokens=_thinking_budget(model.get("thinking")),
            reasoning_effort=model.get("reasoningEffort"),
            prompt_cache_key=model.get("promptCacheKey"),
            fallback_models=tuple(str(name) for name in model.get("fallbackModels") or []),
            tools=tuple(tool for tool in model.get("tools") or [] if isinstance(tool, dict)),
            tool_ids=tuple(str(tool_id) for tool_id in model.get("toolIds") or []),
        )


def _thinking_budget(thinking: Any) -> int | None:
    if isinstance(thinking, dict) and thinking.get("type") == "enabled" and thinking.get("budgetTokens"):
        return int(thinking["budgetTokens"])
    return None
