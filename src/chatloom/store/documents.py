"""Org-scoped CRUD for tables that keep an API document as JSON text in `body`.

Every function takes the caller's `org_id` and filters by it, so another org's id behaves exactly
like an unknown one. Indexed columns (`name`, `assistant_id`, ...) are copies of document fields kept
for filtering; the document is the source of truth for what the API returns.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import orjson
from sqlalchemy import Insert, Select, Table, and_, bindparam, cast, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from chatloom.domain.ids import iso

Document = dict[str, Any]
RangeOp = Literal["gt", "lt", "ge", "le"]


@dataclass(slots=True)
class ListQuery:
    """Filters and paging for listing documents. `equal` and `any_of` map column names to values."""

    equal: dict[str, Any] = field(default_factory=dict)
    any_of: dict[str, Sequence[str]] = field(default_factory=dict)
    body_equal: dict[tuple[str, ...], str] = field(default_factory=dict)
    """Equality on a string inside the JSON document, by its key path, e.g. ("customer", "name")."""
    body_any_of: dict[tuple[str, ...], Sequence[str]] = field(default_factory=dict)
    ranges: list[tuple[str, RangeOp, datetime]] = field(default_factory=list)
    sort_by: str = "created_at"
    descending: bool = True
    page: int = 1
    limit: int = 100


@dataclass(slots=True)
class Page:
    items: list[Document]
    total: int


def to_document(row: Row[Any]) -> Document:
    body: Document = orjson.loads(row.body)
    return {
        "id": row.id,
        "orgId": row.org_id,
        **body,
        "createdAt": iso(row.created_at),
        "updatedAt": iso(row.updated_at),
    }


def dump_body(document: Mapping[str, Any]) -> str:
    """The stored body: the document without the fields that live in their own columns."""
    body = {k: v for k, v in document.items() if k not in ("id", "orgId", "createdAt", "updatedAt")}
    return orjson.dumps(body).decode()


async def insert_document(
    conn: AsyncConnection,
    table: Table,
    *,
    org_id: str,
    doc_id: str,
    document: Mapping[str, Any],
    created_at: datetime,
    columns: Mapping[str, Any],
) -> None:
    row = {
        "id": doc_id,
        "org_id": org_id,
        "body": dump_body(document),
        "created_at": created_at,
        "updated_at": created_at,
        **columns,
    }
    await conn.execute(_insert_statement(table), row)


async def get_document(conn: AsyncConnection, table: Table, org_id: str, doc_id: str) -> Document | None:
    row = (await conn.execute(_get_statement(table), {"doc_id": doc_id, "org_id": org_id})).first()
    return to_document(row) if row is not None else None


# Hot statements are built once per table: SQLAlchemy then only binds parameters, instead of
# constructing and hashing a new statement on every turn.
@functools.cache
def _insert_statement(table: Table) -> Insert:
    return insert(table)


@functools.cache
def _get_statement(table: Table) -> Select[Any]:
    return select(table).where(table.c.id == bindparam("doc_id"), table.c.org_id == bindparam("org_id"))


async def update_document(
    conn: AsyncConnection,
    table: Table,
    *,
    org_id: str,
    doc_id: str,
    document: Mapping[str, Any],
    updated_at: datetime,
    columns: Mapping[str, Any],
) -> bool:
    result = await conn.execute(
        update(table)
        .where(table.c.id == doc_id, table.c.org_id == org_id)
        .values(body=dump_body(document), updated_at=updated_at, **columns)
    )
    return bool(result.rowcount)


async def delete_document(conn: AsyncConnection, table: Table, org_id: str, doc_id: str) -> Document | None:
    document = await get_document(conn, table, org_id, doc_id)
    if document is not None:
        await conn.execute(delete(table).where(table.c.id == doc_id, table.c.org_id == org_id))
    return document


def body_field(table: Table, path: tuple[str, ...], dialect: str) -> ColumnElement[Any]:
    """A string inside the JSON text of `body`, as SQL (SQLite's json_extract, PostgreSQL's jsonb)."""
    if dialect == "postgresql":
        return func.jsonb_extract_path_text(cast(table.c.body, JSONB), *path)
    return func.json_extract(table.c.body, "$." + ".".join(f'"{part}"' for part in path))


def _conditions(
    table: Table, org_id: str, query: ListQuery, dialect: str = "sqlite"
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [table.c.org_id == org_id]
    for path, text in query.body_equal.items():
        conditions.append(body_field(table, path, dialect) == text)
    for path, texts in query.body_any_of.items():
        conditions.append(body_field(table, path, dialect).in_(list(texts)))
    for name, value in query.equal.items():
        conditions.append(table.c[name] == value)
    for name, values in query.any_of.items():
        conditions.append(table.c[name].in_(list(values)))
    for name, op, moment in query.ranges:
        column = table.c[name]
        conditions.append(
            {"gt": column > moment, "lt": column < moment, "ge": column >= moment, "le": column <= moment}[op]
        )
    return conditions


async def list_documents(
    conn: AsyncConnection,
    table: Table,
    org_id: str,
    query: ListQuery,
    *,
    count: bool = False,
    convert: Callable[[Row[Any]], Document] = to_document,
) -> Page:
    """One page of documents, newest first by default; `count` also computes the total matches."""
    where = and_(*_conditions(table, org_id, query, conn.dialect.name))
    sort_column = table.c[query.sort_by]
    order = (
        (sort_column.desc(), table.c.id.desc()) if query.descending else (sort_column.asc(), table.c.id.asc())
    )
    statement = (
        select(table).where(where).order_by(*order).limit(query.limit).offset((query.page - 1) * query.limit)
    )
    rows = (await conn.execute(statement)).all()
    total = len(rows)
    if count:
        total = int((await conn.execute(select(func.count()).select_from(table).where(where))).scalar_one())
    return Page(items=[convert(row) for row in rows], total=total)


class DocumentStore:
    """The org-scoped CRUD of one document table; `columns` copies a document's filterable fields into
    their own columns. Modules expose its bound methods as their functions."""

    def __init__(self, table: Table, columns: Callable[[Mapping[str, Any]], dict[str, Any]]) -> None:
        self.table = table
        self.columns = columns

    async def insert(
        self, conn: AsyncConnection, org_id: str, doc_id: str, document: Document, now: datetime
    ) -> None:
        await insert_document(
            conn,
            self.table,
            org_id=org_id,
            doc_id=doc_id,
            document=document,
            created_at=now,
            columns=self.columns(document),
        )

    async def get(self, conn: AsyncConnection, org_id: str, doc_id: str) -> Document | None:
        return await get_document(conn, self.table, org_id, doc_id)

    async def get_many(self, conn: AsyncConnection, org_id: str, ids: Sequence[str]) -> list[Document]:
        """The org's documents among `ids`, in the order of `ids` (each once); unknown ids are left out."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        table = self.table
        statement = select(table).where(table.c.org_id == org_id, table.c.id.in_(wanted))
        found = {row.id: to_document(row) for row in (await conn.execute(statement)).all()}
        return [found[doc_id] for doc_id in wanted if doc_id in found]

    async def replace(
        self, conn: AsyncConnection, org_id: str, doc_id: str, document: Document, now: datetime
    ) -> bool:
        return await update_document(
            conn,
            self.table,
            org_id=org_id,
            doc_id=doc_id,
            document=document,
            updated_at=now,
            columns=self.columns(document),
        )

    async def delete(self, conn: AsyncConnection, org_id: str, doc_id: str) -> Document | None:
        return await delete_document(conn, self.table, org_id, doc_id)

    async def count(self, conn: AsyncConnection, org_id: str) -> int:
        """How many documents the org has."""
        table = self.table
        statement = select(func.count()).select_from(table).where(table.c.org_id == org_id)
        return int((await conn.execute(statement)).scalar_one())

    async def list_(
        self, conn: AsyncConnection, org_id: str, query: ListQuery, *, count: bool = False
    ) -> Page:
        return await list_documents(conn, self.table, org_id, query, count=count)
