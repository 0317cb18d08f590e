"""Tool documents (`function`, `apiRequest`), scoped to their org.

`type` and the name the model calls the tool by are copied into columns; the document is the truth.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from chatloom.store import documents
from chatloom.store.documents import Document, ListQuery
from chatloom.store.tables import tools


def _columns(document: Mapping[str, Any]) -> dict[str, Any]:
    function = document.get("function")
    name = function.get("name") if isinstance(function, Mapping) else document.get("name")
    return {"type": document["type"], "name": name if isinstance(name, str) else None}


async def insert(conn: AsyncConnection, org_id: str, doc_id: str, document: Document, now: datetime) -> None:
    await documents.insert_document(
        conn,
        tools,
        org_id=org_id,
        doc_id=doc_id,
        document=document,
        created_at=now,
        columns=_columns(document),
    )


async def get(conn: AsyncConnection, org_id: str, doc_id: str) -> Document | None:
    return await documents.get_document(conn, tools, org_id, doc_id)


async def get_many(conn: AsyncConnection, org_id: str, ids: Sequence[str]) -> list[Document]:
    """The org's tools among `ids`, in the order of `ids` (each once); unknown ids are left out."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return []
    rows = (await conn.execute(select(tools).where(tools.c.org_id == org_id, tools.c.id.in_(wanted)))).all()
    found = {row.id: documents.to_document(row) for row in rows}
    return [found[doc_id] for doc_id in wanted if doc_id in found]


async def replace(conn: AsyncConnection, org_id: str, doc_id: str, document: Document, now: datetime) -> bool:
    return await documents.update_document(
        conn,
        tools,
        org_id=org_id,
        doc_id=doc_id,
        document=document,
        updated_at=now,
        columns=_columns(document),
    )


async def delete(conn: AsyncConnection, org_id: str, doc_id: str) -> Document | None:
    return await documents.delete_document(conn, tools, org_id, doc_id)


async def list_(conn: AsyncConnection, org_id: str, query: ListQuery) -> list[Document]:
    return (await documents.list_documents(conn, tools, org_id, query)).items
