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
    }


STORE = DocumentStore(chats, _columns)
insert, get, delete, list_ = STORE.insert, STORE.get, STORE.delete, STORE.list_
