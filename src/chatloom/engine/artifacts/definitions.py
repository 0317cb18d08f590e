"""A structured output's definition, read once from its document (saved, or inline in an assistant's
`artifactPlan.structuredOutputs`), and which definitions a session's assistant asks for."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

INLINE_NAMESPACE = uuid.UUID("6f7c1f56-0c53-4c0e-9a54-3f0f1d0b7a11")
"""Inline outputs have no stored id: each is keyed by a UUID derived from its definition, so the same
inline output keeps its key across sessions and runs."""


@dataclass(frozen=True, slots=True)
class ExtractionModelView:
    provider: str
    model: str
    messages: tuple[Mapping[str, Any], ...] = ()
    temperature: float | None = None
    max_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class OutputDefinition:
    id: str
    name: str
    kind: str
    """"ai" (a model extracts it) or "regex" (RE2 over the transcript)."""
    schema: Mapping[str, Any]
    description: str | None = None
    regex: str | None = None
    model: ExtractionModelView | None = None
    min_messages: int | None = None
    """The `minMessages` condition's count, if the output has one."""

    @property
    def min_messages_condition(self) -> dict[str, Any]:
        return {"type": "minMessages", "count": self.min_messages}

    def described(self) -> dict[str, Any]:
        """What a prompt's `{{structuredOutput}}` shows: name, description and schema."""
        return {"name": self.name, "description": self.description or "", "schema": dict(self.schema)}


def inline_id(document: Mapping[str, Any]) -> str:
    return str(uuid.uuid5(INLINE_NAMESPACE, orjson.dumps(document, option=orjson.OPT_SORT_KEYS).decode()))


def definition(document: Mapping[str, Any]) -> OutputDefinition:
    """The typed view of a (validated) structured-output document; inline ones get their derived id."""
    model = document.get("model")
    model_view = None
    if isinstance(model, Mapping) and model.get("provider") and model.get("model"):
        messages = model.get("messages") or ()
        model_view = ExtractionModelView(
            str(model["provider"]),
            str(model["model"]),
            tuple(message for message in messages if isinstance(message, Mapping)),
            model.get("temperature"),
            int(model["maxTokens"]) if model.get("maxTokens") is not None else None,
        )
    min_messages = None
    for condition in document.get("conditions") or ():
        if isinstance(condition, Mapping) and condition.get("type") == "minMessages":
            count = int(condition.get("count", 0))
            min_messages = count if min_messages is None else max(min_messages, count)
    schema = document.get("schema")
    return OutputDefinition(
        id=str(document["id"]) if document.get("id") else inline_id(document),
        name=str(document.get("name") or ""),
        kind=str(document.get("type") or "ai"),
        schema=schema if isinstance(schema, Mapping) else {},
        description=document.get("description") if isinstance(document.get("description"), str) else None,
        regex=document.get("regex") if isinstance(document.get("regex"), str) else None,
        model=model_view,
        min_messages=min_messages,
    )


def planned_outputs(assistant: Mapping[str, Any]) -> tuple[list[str], list[OutputDefinition]]:
    """The saved ids and the inline definitions an assistant's `artifactPlan` names."""
    plan = assistant.get("artifactPlan")
    if not isinstance(plan, Mapping):
        return [], []
    ids = [str(value) for value in plan.get("structuredOutputIds") or () if isinstance(value, str)]
    inline = [definition(item) for item in plan.get("structuredOutputs") or () if isinstance(item, Mapping)]
    return ids, inline


def linked(documents: Sequence[Mapping[str, Any]], assistant_id: str | None) -> list[str]:
    """Ids of saved outputs that link themselves to the assistant (`assistantIds`)."""
    if assistant_id is None:
        return []
    return [
        str(document["id"]) for document in documents if assistant_id in (document.get("assistantIds") or ())
    ]
