"""Assistant documents, scoped to their org."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from chatloom.store import documents
from chatloom.store.documents import Document, ListQuery
from chatloom.store.tables import assistants


def _columns(document: Mapping[str, Any]) -> dict[str, Any]:
    return {"name": document.get("name")}


async def insert(conn: AsyncConnection, org_id: str, doc_id: str, document: Document, now: datetime) -> None:
    await documents.insert_document(
        conn,
        assistants,
        org_id=org_id,
        doc_id=doc_id,
        document=document,
        created_at=now,
        columns=_columns(document),
    )


async def get(conn: AsyncConnection, org_id: str, doc_id: str) -> Document | None:
    return await documents.get_document(conn, assistants, org_id, doc_id)


async def replace(conn: AsyncConnection, org_id: str, doc_id: str, document: Document, now: datetime) -> bool:
    return await documents.update_document(
        conn,
        assistants,
        org_id=org_id,
        doc_id=doc_id,
        document=document,
        updated_at=now,
        columns=_columns(document),
    )


async def delete(conn: AsyncConnection, org_id: str, doc_id: str) -> Document | None:
    return await documents.delete_document(conn, assistants, org_id, doc_id)


async def list_(conn: AsyncConnection, org_id: str, query: ListQuery) -> list[Document]:
    return (await documents.list_documents(conn, assistants, org_id, query)).items
