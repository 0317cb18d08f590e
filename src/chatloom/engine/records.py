"""Record operations outside a turn: assistant and tool CRUD, and reading or deleting chats.

Each operation is one short transaction, scoped to the caller's org; a missing or foreign id raises
`NotFound`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from chatloom.domain.errors import NotFound
from chatloom.domain.ids import iso, new_id, utc_now
from chatloom.engine.assistant_cache import AssistantCache
from chatloom.engine.server_messages import ServerMessages
from chatloom.store import assistants, chats, tools
from chatloom.store.db import Database
from chatloom.store.documents import Document, ListQuery, Page


class AssistantRecords:
    def __init__(self, db: Database, cache: AssistantCache | None = None) -> None:
        self.db = db
        self.cache = cache or AssistantCache(ttl_seconds=0)

    async def create(self, org_id: str, fields: dict[str, Any]) -> Document:
        doc_id, now = new_id(), utc_now()
        async with self.db.write() as conn:
            await assistants.insert(conn, org_id, doc_id, fields, now)
        return {"id": doc_id, "orgId": org_id, **fields, "createdAt": iso(now), "updatedAt": iso(now)}

    async def get(self, org_id: str, doc_id: str) -> Document:
        async with self.db.read() as conn:
            document = await assistants.get(conn, org_id, doc_id)
        if document is None:
            raise NotFound(f"Assistant {doc_id} not found")
        return document

    async def update(self, org_id: str, doc_id: str, changes: dict[str, Any]) -> Document:
        now = utc_now()
        async with self.db.write() as conn:
            document = await assistants.get(conn, org_id, doc_id)
            if document is None:
                raise NotFound(f"Assistant {doc_id} not found")
            document.update(changes)
            await assistants.replace(conn, org_id, doc_id, document, now)
        self.cache.forget(org_id, doc_id)  # after the commit, so no turn can cache the old version
        document["updatedAt"] = iso(now)
        return document

    async def delete(self, org_id: str, doc_id: str) -> Document:
        async with self.db.write() as conn:
            document = await assistants.delete(conn, org_id, doc_id)
        self.cache.forget(org_id, doc_id)
        if document is None:
            raise NotFound(f"Assistant {doc_id} not found")
        return document

    async def list(self, org_id: str, query: ListQuery) -> list[Document]:
        async with self.db.read() as conn:
            return (await assistants.list_(conn, org_id, query)).items


class ToolRecords:
    """Stored tools. Validation is the caller's: `update` applies a `revise` function to the stored
    document inside the write transaction, so a concurrent change is never lost."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, org_id: str, fields: dict[str, Any]) -> Document:
        doc_id, now = new_id(), utc_now()
        async with self.db.write() as conn:
            await tools.insert(conn, org_id, doc_id, fields, now)
        return {"id": doc_id, "orgId": org_id, **fields, "createdAt": iso(now), "updatedAt": iso(now)}

    async def get(self, org_id: str, doc_id: str) -> Document:
        async with self.db.read() as conn:
            document = await tools.get(conn, org_id, doc_id)
        if document is None:
            raise NotFound(f"Tool {doc_id} not found")
        return document

    async def get_many(self, org_id: str, ids: Sequence[str]) -> list[Document]:
        """The org's tools among `ids`, in that order; unknown ids are left out for the caller to report."""
        async with self.db.read() as conn:
            return await tools.get_many(conn, org_id, ids)

    async def update(
        self, org_id: str, doc_id: str, revise: Callable[[Document], dict[str, Any]]
    ) -> Document:
        """Replaces the tool's fields with `revise(stored document)`; `revise` may raise to refuse."""
        now = utc_now()
        async with self.db.write() as conn:
            stored = await tools.get(conn, org_id, doc_id)
            if stored is None:
                raise NotFound(f"Tool {doc_id} not found")
            fields = revise(stored)
            document = {"id": doc_id, "orgId": org_id, **fields, "createdAt": stored["createdAt"]}
            await tools.replace(conn, org_id, doc_id, document, now)
        document["updatedAt"] = iso(now)
        return document

    async def delete(self, org_id: str, doc_id: str) -> Document:
        async with self.db.write() as conn:
            document = await tools.delete(conn, org_id, doc_id)
        if document is None:
            raise NotFound(f"Tool {doc_id} not found")
        return document

    async def list(self, org_id: str, query: ListQuery) -> list[Document]:
        async with self.db.read() as conn:
            return (await tools.list_(conn, org_id, query)).items


class ChatRecords:
    def __init__(self, db: Database, server_messages: ServerMessages) -> None:
        self.db = db
        self.server_messages = server_messages

    async def get(self, org_id: str, doc_id: str) -> Document:
        async with self.db.read() as conn:
            document = await chats.get(conn, org_id, doc_id)
        if document is None:
            raise NotFound(f"Chat {doc_id} not found")
        return document

    async def delete(self, org_id: str, doc_id: str) -> Document:
        async with self.db.write() as conn:
            document = await chats.delete(conn, org_id, doc_id)
            if document is None:
                raise NotFound(f"Chat {doc_id} not found")
            assistant = document.get("assistant")
            if document.get("assistantId") is not None:
                assistant = await assistants.get(conn, org_id, document["assistantId"])
        overrides = document.get("assistantOverrides")
        self.server_messages.send("chat.deleted", assistant, overrides, {"chat": document})
        return document

    async def list(self, org_id: str, query: ListQuery) -> Page:
        async with self.db.read() as conn:
            return await chats.list_(conn, org_id, query, count=True)
