"""Chat documents, scoped to their org. A chat is written once, when its turn completes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chatloom.store.documents import DocumentStore
from chatloom.store.tables import chats

SORTABLE = {"createdAt": "created_at", "cost": "cost", "duration": "created_at"}
"""`sortBy` values and their columns; a text chat has no duration, so `duration` sorts by creation."""


def _columns(document: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "assistant_id": document.get("assistantId"),
        "squad_id": document.get("squadId"),
        "session_id": document.get("sessionId"),
        "previous_chat_id": document.get("previousChatId"),
        "name": document.get("name"),
        "cost": document.get("cost", 0.0),
        "model": model_of(document),
    }


def model_of(document: Mapping[str, Any]) -> str | None:
    """The model that produced a chat's reply: the last `costs` entry's (a fallback's, when one
    answered after the first model failed)."""
    costs = document.get("costs")
    if not isinstance(costs, list):
        return None
    for entry in reversed(costs):
        model = entry.get("model") if isinstance(entry, dict) else None
        if isinstance(model, dict) and isinstance(model.get("model"), str):
            return str(model["model"])[:100]
    return None


STORE = DocumentStore(chats, _columns)
insert, get, delete, list_ = STORE.insert, STORE.get, STORE.delete, STORE.list_
