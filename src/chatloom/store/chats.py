"""Chat documents, scoped to their org. A chat is written once, when its turn completes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from chatloom.store import documents
from chatloom.store.documents import Document, ListQuery, Page
from chatloom.store.tables import chats

SORTABLE = {"createdAt": "created_at", "cost": "cost"}


def _columns(document: Document) -> dict[str, Any]:
    return {
        "assistant_id": document.get("assistantId"),
        "squad_id": document.get("squadId"),
        "session_id": document.get("sessionId"),
        "previous_chat_id": document.get("previousChatId"),
        "name": document.get("name"),
        "cost": document.get("cost", 0.0),
    }


async def insert(conn: AsyncConnection, org_id: str, doc_id: str, document: Document, now: datetime) -> None:
    await documents.insert_document(
        conn,
        chats,
        org_id=org_id,
        doc_id=doc_id,
        document=document,
        created_at=now,
        columns=_columns(document),
    )


async def get(conn: AsyncConnection, org_id: str, doc_id: str) -> Document | None:
    return await documents.get_document(conn, chats, org_id, doc_id)


async def delete(conn: AsyncConnection, org_id: str, doc_id: str) -> Document | None:
    return await documents.delete_document(conn, chats, org_id, doc_id)


async def list_(conn: AsyncConnection, org_id: str, query: ListQuery) -> Page:
    return await documents.list_documents(conn, chats, org_id, query, count=True)
