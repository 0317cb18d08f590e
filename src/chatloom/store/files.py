"""Uploaded files' records (`File`), scoped to their org; the content is in the file storage, not here.

`purpose`, `status` and `bytes` are copied into columns for filtering and for the org's quota; the
document is the truth.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from chatloom.store.documents import Document, DocumentStore, to_document
from chatloom.store.tables import files


def _columns(document: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "purpose": document.get("purpose"),
        "status": str(document["status"]),
        "bytes": int(document["bytes"]),
    }


STORE = DocumentStore(files, _columns)
insert, get, get_many, replace, delete, list_ = (
    STORE.insert,
    STORE.get,
    STORE.get_many,
    STORE.replace,
    STORE.delete,
    STORE.list_,
)


async def usage(conn: AsyncConnection, org_id: str) -> tuple[int, int]:
    """How many files the org keeps, and their bytes together."""
    statement = select(func.count(), func.coalesce(func.sum(files.c.bytes), 0)).where(
        files.c.org_id == org_id
    )
    count, size = (await conn.execute(statement)).one()
    return int(count), int(size)


async def get_for_update(conn: AsyncConnection, org_id: str, file_id: str) -> Document | None:
    """The record, its row held until the transaction ends (PostgreSQL locks it; a SQLite write
    transaction already holds the database), so a concurrent change waits instead of being lost."""
    statement = select(files).where(files.c.id == file_id, files.c.org_id == org_id).with_for_update()
    row = (await conn.execute(statement)).first()
    return to_document(row) if row is not None else None
