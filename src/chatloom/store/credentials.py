"""Credential documents, scoped to their org. Bodies are sealed by the caller: this module only ever
sees ciphertext. Also the scan `chatloom credentials rotate` and the start-up key check use."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Table, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from chatloom.store.documents import Document, DocumentStore, ListQuery
from chatloom.store.tables import assistants, chats, credentials, sessions

MAX_PER_ORG = 1000
SEALED_MARKER = '"$sealed"'
INLINE_MARKER = '"credentials"'
SEALED_TABLES: tuple[Table, ...] = (credentials, assistants, sessions, chats)
"""Where sealed secrets may be stored: org credentials, and inline credentials of assistants."""


def _columns(document: Mapping[str, Any]) -> dict[str, Any]:
    return {"provider": document["provider"], "name": document.get("name")}


STORE = DocumentStore(credentials, _columns)
insert, get, replace, delete, list_ = STORE.insert, STORE.get, STORE.replace, STORE.delete, STORE.list_


async def all_of_org(conn: AsyncConnection, org_id: str) -> list[Document]:
    """The org's credentials, oldest first."""
    query = ListQuery(descending=False, limit=MAX_PER_ORG)
    return (await STORE.list_(conn, org_id, query)).items


async def sealed_rows(
    conn: AsyncConnection,
    table: Table,
    after_id: str,
    limit: int,
    markers: tuple[str, ...] = (SEALED_MARKER,),
) -> list[tuple[str, str]]:
    """`(id, body)` of rows of `table` whose body holds one of `markers` (by default: a sealed secret),
    by id after `after_id`."""
    statement = (
        select(table.c.id, table.c.body)
        .where(table.c.id > after_id, or_(*(table.c.body.contains(m, autoescape=True) for m in markers)))
        .order_by(table.c.id)
        .limit(limit)
    )
    return [(row.id, row.body) for row in (await conn.execute(statement)).all()]


async def rewrite_body(conn: AsyncConnection, table: Table, row_id: str, body: str) -> None:
    await conn.execute(update(table).where(table.c.id == row_id).values(body=body))


async def any_sealed(conn: AsyncConnection) -> str | None:
    """One stored body holding a sealed secret (org credentials first, then assistants), if any."""
    for table in (credentials, assistants):
        rows = await sealed_rows(conn, table, "", 1)
        if rows:
            return rows[0][1]
    return None
