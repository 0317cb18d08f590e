"""Cost lines: a billed model call as Vapi's `ModelCost` entry, a knowledge-base search's embedding call as
its `KnowledgeBaseCost` entry, and a session's costs summed per type and model."""

from __future__ import annotations

from typing import Any

from chatloom.domain.usage import KnowledgeBaseCall, ModelCall


def cost_entry(call: ModelCall) -> dict[str, Any]:
    """A `ModelCost` entry of `Chat.costs`."""
    return {
        "type": "model",
        "model": {"provider": call.provider, "model": call.model},
        "promptTokens": call.usage.prompt_tokens,
        "completionTokens": call.usage.completion_tokens,
        "cachedPromptTokens": call.usage.cached_prompt_tokens,
        **({"reasoningTokens": call.usage.reasoning_tokens} if call.usage.reasoning_tokens else {}),
        "cost": call.cost,
    }


def knowledge_base_cost_entry(call: KnowledgeBaseCall) -> dict[str, Any]:
    """A `KnowledgeBaseCost` entry of `Chat.costs`."""
    return {
        "type": "knowledge-base",
        "model": {"provider": call.provider, "model": call.model},
        "promptTokens": call.prompt_tokens,
        "completionTokens": 0,
        "cost": call.cost,
    }


def add_costs(totals: list[dict[str, Any]], entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Session costs: one entry per type (`model`, `knowledge-base`) and provider/model, summed over the
    session's chats."""
    merged = {(e.get("type"), e["model"]["provider"], e["model"]["model"]): dict(e) for e in totals}
    for entry in entries:
        key = (entry.get("type"), entry["model"]["provider"], entry["model"]["model"])
        total = merged.get(key)
        if total is None:
            merged[key] = dict(entry)
            continue
        for name in ("promptTokens", "completionTokens", "cachedPromptTokens", "cost"):
            if name not in entry and name not in total:
                continue
            total[name] = total.get(name, 0) + entry.get(name, 0)
    return list(merged.values())
