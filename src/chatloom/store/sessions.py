"""Session rows: the conversation document, its rendered prompt, expiry and the turn lease.

A session's turns are serialized by a lease (`lease_owner`, `lease_until`) taken in a short
transaction before the model is called, renewed while the turn runs and released in the transaction
that appends the turn, so no connection is held while the model answers and the lease works across
any number of processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import orjson
from sqlalchemy import Row, or_, select, update
from sqlalchemy import delete as sa_delete
from sqlalchemy.ext.asyncio import AsyncConnection

from chatloom.domain.errors import SessionBusy
from chatloom.domain.messages import Message
from chatloom.store import documents
from chatloom.store.documents import Document, ListQuery, Page
from chatloom.store.tables import sessions

SORTABLE = {"createdAt": "created_at", "cost": "cost", "duration": "created_at"}
"""`sortBy` values and their columns; a chat session has no duration, so `duration` sorts by creation."""

LeaseState = Literal["acquired", "busy", "missing", "completed", "expired"]


@dataclass(slots=True)
class SessionState:
    """What a turn needs from its session, read once the lease is held."""

    document: Document
    prompt: list[Message]


def effective_status(status: str, expires_at: datetime, now: datetime) -> str:
    return "completed" if status == "completed" or expires_at <= now else "active"


def to_document(row: Row[Any], now: datetime) -> Document:
    document = documents.to_document(row)
    document["status"] = effective_status(row.status, row.expires_at, now)
    return document


def _columns(document: Document, status: str, expires_at: datetime) -> dict[str, Any]:
    return {
        "assistant_id": document.get("assistantId"),
        "squad_id": document.get("squadId"),
        "name": document.get("name"),
        "cost": document.get("cost", 0.0),
        "status": status,
        "expires_at": expires_at,
    }


async def insert(
    conn: AsyncConnection,
    org_id: str,
    doc_id: str,
    document: Document,
    prompt: list[Message],
    now: datetime,
    expires_at: datetime,
) -> None:
    status = str(document.pop("status", "active"))
    await documents.insert_document(
        conn,
        sessions,
        org_id=org_id,
        doc_id=doc_id,
        document=document,
        created_at=now,
        columns={**_columns(document, status, expires_at), "prompt": orjson.dumps(prompt).decode()},
    )


async def get(conn: AsyncConnection, org_id: str, doc_id: str, now: datetime) -> Document | None:
    statement = select(sessions).where(sessions.c.id == doc_id, sessions.c.org_id == org_id)
    row = (await conn.execute(statement)).first()
    return to_document(row, now) if row is not None else None


async def get_for_update(
    conn: AsyncConnection, org_id: str, doc_id: str, now: datetime
) -> tuple[Document, datetime] | None:
    """The session, locked for this transaction, and when it expires."""
    statement = select(sessions).where(sessions.c.id == doc_id, sessions.c.org_id == org_id).with_for_update()
    row = (await conn.execute(statement)).first()
    return (to_document(row, now), row.expires_at) if row is not None else None


async def read_for_turn(
    conn: AsyncConnection, org_id: str, doc_id: str, now: datetime
) -> SessionState | None:
    row = (
        await conn.execute(select(sessions).where(sessions.c.id == doc_id, sessions.c.org_id == org_id))
    ).first()
    if row is None:
        return None
    return SessionState(to_document(row, now), orjson.loads(row.prompt))


async def replace(
    conn: AsyncConnection, org_id: str, doc_id: str, document: Document, now: datetime, expires_at: datetime
) -> None:
    status = str(document.pop("status", "active"))
    await documents.update_document(
        conn,
        sessions,
        org_id=org_id,
        doc_id=doc_id,
        document=document,
        updated_at=now,
        columns=_columns(document, status, expires_at),
    )


async def delete(conn: AsyncConnection, org_id: str, doc_id: str, now: datetime) -> Document | None:
    found = await get_for_update(conn, org_id, doc_id, now)
    if found is None:
        return None
    await conn.execute(sa_delete(sessions).where(sessions.c.id == doc_id, sessions.c.org_id == org_id))
    return found[0]


async def list_(conn: AsyncConnection, org_id: str, query: ListQuery, now: datetime) -> Page:
    return await documents.list_documents(
        conn, sessions, org_id, query, count=True, convert=lambda row: to_document(row, now)
    )


async def try_lease(
    conn: AsyncConnection, org_id: str, doc_id: str, owner: str, now: datetime, until: datetime
) -> LeaseState:
    """Takes the session's turn lease if it is free (or its holder's lease ran out)."""
    result = await conn.execute(
        update(sessions)
        .where(
            sessions.c.id == doc_id,
            sessions.c.org_id == org_id,
            sessions.c.status == "active",
            sessions.c.expires_at > now,
            or_(sessions.c.lease_owner.is_(None), sessions.c.lease_until <= now),
        )
        .values(lease_owner=owner, lease_until=until)
    )
    if result.rowcount:
        return "acquired"
    row = (
        await conn.execute(
            select(sessions.c.status, sessions.c.expires_at).where(
                sessions.c.id == doc_id, sessions.c.org_id == org_id
            )
        )
    ).first()
    if row is None:
        return "missing"
    if row.status == "completed":
        return "completed"
    if row.expires_at <= now:
        return "expired"
    return "busy"


def add_costs(totals: list[dict[str, Any]], entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Session costs: one `ModelCost` entry per provider/model, summed over the session's chats."""
    merged = {(e["model"]["provider"], e["model"]["model"]): dict(e) for e in totals}
    for entry in entries:
        key = (entry["model"]["provider"], entry["model"]["model"])
        total = merged.get(key)
        if total is None:
            merged[key] = dict(entry)
            continue
        for field in ("promptTokens", "completionTokens", "cachedPromptTokens", "cost"):
            total[field] = total.get(field, 0) + entry.get(field, 0)
    return list(merged.values())


async def append_turn(
    conn: AsyncConnection,
    org_id: str,
    doc_id: str,
    owner: str,
    messages: list[Message],
    cost_entries: list[dict[str, Any]],
    now: datetime,
) -> bool:
    """Appends one turn's messages and costs to the session (as it is now) and releases the lease.

    Returns False when the session was deleted meanwhile. The read and the write happen under the
    row lock (PostgreSQL) or the database write lock (SQLite), so concurrent changes are never lost.
    Raises SessionBusy (rolling back the transaction) when another turn took the lease after ours ran out.
    """
    row = (
        await conn.execute(
            select(sessions).where(sessions.c.id == doc_id, sessions.c.org_id == org_id).with_for_update()
        )
    ).first()
    if row is None:
        return False
    if row.lease_owner != owner:
        raise lease_lost(doc_id)
    body: Document = orjson.loads(row.body)
    body["messages"] = [*body.get("messages", []), *messages]
    body["costs"] = add_costs(body.get("costs", []), cost_entries)
    body["cost"] = body.get("cost", 0.0) + sum(entry["cost"] for entry in cost_entries)
    values: dict[str, Any] = {
        "body": documents.dump_body(body),
        "cost": body["cost"],
        "updated_at": now,
        "expires_at": now + timedelta(seconds=float(body.get("expirationSeconds", 86400))),
    }
    if row.lease_owner == owner:
        values.update(lease_owner=None, lease_until=None)
    await conn.execute(update(sessions).where(sessions.c.id == doc_id).values(**values))
    return True


def lease_lost(doc_id: str) -> SessionBusy:
    return SessionBusy(
        f"Session {doc_id} was taken over by another chat after this chat's hold on it lapsed; "
        "this chat was not stored. Try again."
    )


async def renew_lease(conn: AsyncConnection, org_id: str, doc_id: str, owner: str, until: datetime) -> bool:
    """Extends the lease while `owner` still holds it; False when it was lost (or the session deleted)."""
    result = await conn.execute(
        update(sessions)
        .where(sessions.c.id == doc_id, sessions.c.org_id == org_id, sessions.c.lease_owner == owner)
        .values(lease_until=until)
    )
    return bool(result.rowcount)


async def release_lease(conn: AsyncConnection, org_id: str, doc_id: str, owner: str) -> None:
    await conn.execute(
        update(sessions)
        .where(sessions.c.id == doc_id, sessions.c.org_id == org_id, sessions.c.lease_owner == owner)
        .values(lease_owner=None, lease_until=None)
    )
