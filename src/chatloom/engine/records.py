"""Record operations outside a turn: assistant CRUD and reading or deleting chats.

Each operation is one short transaction, scoped to the caller's org; a missing or foreign id raises
`NotFound`.
"""

from __future__ import annotations

from typing import Any

from chatloom.domain.errors import NotFound
from chatloom.domain.ids import iso, new_id, utc_now
from chatloom.store import assistants, chats
from chatloom.store.db import Database
from chatloom.store.documents import Document, ListQuery, Page


class AssistantRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

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
        document["updatedAt"] = iso(now)
        return document

    async def delete(self, org_id: str, doc_id: str) -> Document:
        async with self.db.write() as conn:
            document = await assistants.delete(conn, org_id, doc_id)
        if document is None:
            raise NotFound(f"Assistant {doc_id} not found")
        return document

    async def list(self, org_id: str, query: ListQuery) -> list[Document]:
        async with self.db.read() as conn:
            return await assistants.list_(conn, org_id, query)


class ChatRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

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
        return document

    async def list(self, org_id: str, query: ListQuery) -> Page:
        async with self.db.read() as conn:
            return await chats.list_(conn, org_id, query)
