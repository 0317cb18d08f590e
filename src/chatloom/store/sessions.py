"""Session rows: the conversation document, its rendered prompt, expiry and the turn lease.

The session's messages live in a message log (`log_id`, `log_length`); the body keeps a
`"messages": null` placeholder that reads fill in, so the document's keys keep their order.

A session's turns are serialized by a lease (`lease_owner`, `lease_until`) taken in a short
transaction before the model is called, renewed while the turn runs and released in the transaction
that appends the turn, so no connection is held while the model answers and the lease works across
any number of processes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Row, bindparam, or_, select
from sqlalchemy import delete as sa_delete
from sqlalchemy import update as sa_update
from sqlalchemy.ext.asyncio import AsyncConnection

from chatloom.domain.ids import iso
from chatloom.domain.messages import Message
from chatloom.store import documents, log_appends, message_logs
from chatloom.store.documents import Document, ListQuery, Page
from chatloom.store.message_cache import MessageCache
from chatloom.store.tables import sessions

SORTABLE = {"createdAt": "created_at", "cost": "cost", "duration": "created_at"}
"""`sortBy` values and their columns; a chat session has no duration, so `duration` sorts by creation."""


LogEnd = tuple[str | None, int]
"""A session's messages: the first `length` messages of a log (no log while there are none)."""


@dataclass(slots=True)
class SessionState:
    """What a turn needs from its session, read once the lease is held."""

    document: Document
    prompt: list[Message]
    log: LogEnd


@dataclass(slots=True)
class StoredSession:
    document: Document
    expires_at: datetime
    log: LogEnd
    row_status: str = "active"
    """The status in the row: "active" for a session that expired but was not yet marked completed."""


def effective_status(status: str, expires_at: datetime, now: datetime) -> str:
    return "completed" if status == "completed" or expires_at <= now else "active"


def to_document(row: Row[Any], now: datetime) -> Document:
    document = documents.to_document(row)
    document["status"] = effective_status(row.status, row.expires_at, now)
    return document


async def _filled(
    conn: AsyncConnection, cache: MessageCache, rows: list[Row[Any]], now: datetime
) -> list[StoredSession]:
    """The rows' documents with their messages, in a constant number of queries; a session whose
    messages are gone (deleted while this read ran) is left out."""
    wanted: dict[str, int] = {}
    for row in rows:
        if row.log_id is not None:
            wanted[row.log_id] = max(wanted.get(row.log_id, 0), row.log_length)
    logs = await message_logs.read(conn, cache, wanted) if wanted else {}
    found: list[StoredSession] = []
    for row in rows:
        document = to_document(row, now)
        if document.get("messages", []) is None:
            messages = logs.get(row.log_id, []) if row.log_id is not None else []
            if len(messages) < row.log_length:
                continue
            document["messages"] = messages[: row.log_length]
        found.append(StoredSession(document, row.expires_at, (row.log_id, row.log_length), row.status))
    return found


CUSTOMER_IDENTITY_FIELDS = ("externalId", "number", "email", "sipUri")
"""What identifies a returning customer, strongest first; a name alone identifies no one."""


def customer_key(customer: Any) -> str | None:
    """A fixed-length key for the customer's identity (its strongest identifying field), or None."""
    if not isinstance(customer, dict):
        return None
    for field in CUSTOMER_IDENTITY_FIELDS:
        value = customer.get(field)
        if isinstance(value, str) and value.strip():
            identity = value.strip().lower() if field == "email" else value.strip()
            return hashlib.sha256(f"{field}:{identity}".encode()).hexdigest()
    return None


def _columns(document: Document, status: str, expires_at: datetime) -> dict[str, Any]:
    return {
        "customer_key": customer_key(document.get("customer")),
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
    findable_by_customer: bool = True,
) -> None:
    """A new session. `findable_by_customer` False keeps it out of its customer's sessions (a customer
    nobody vouched for: a web page's claim), until a private key changes the session."""
    status = str(document.pop("status", "active"))
    log_id, length = await log_appends.create(conn, org_id, list(document.get("messages") or []), now)
    await documents.insert_document(
        conn,
        sessions,
        org_id=org_id,
        doc_id=doc_id,
        document={**document, "messages": None},
        created_at=now,
        columns={
            **_columns(document, status, expires_at),
            **({} if findable_by_customer else {"customer_key": None}),
            "prompt": orjson.dumps(prompt).decode(),
            "log_id": log_id,
            "log_length": length,
        },
    )


# The turn's statements are built once: building one per call costs more than its round trip.
_BY_ID = select(sessions).where(
    sessions.c.id == bindparam("doc_id"), sessions.c.org_id == bindparam("org_id")
)
_LOCKED_BY_ID = _BY_ID.with_for_update()


async def get(
    conn: AsyncConnection, cache: MessageCache, org_id: str, doc_id: str, now: datetime
) -> Document | None:
    row = (await conn.execute(_BY_ID, {"doc_id": doc_id, "org_id": org_id})).first()
    found = await _filled(conn, cache, [row], now) if row is not None else []
    return found[0].document if found else None


async def get_for_update(
    conn: AsyncConnection, cache: MessageCache, org_id: str, doc_id: str, now: datetime
) -> StoredSession | None:
    """The session, locked for this transaction, with when it expires and where its messages are."""
    row = (await conn.execute(_LOCKED_BY_ID, {"doc_id": doc_id, "org_id": org_id})).first()
    found = await _filled(conn, cache, [row], now) if row is not None else []
    return found[0] if found else None


async def get_with_prompt(
    conn: AsyncConnection, cache: MessageCache, org_id: str, doc_id: str, now: datetime
) -> tuple[Document, list[Message]] | None:
    """The session with its messages, and the system prompt rendered when it was created."""
    row = (await conn.execute(_BY_ID, {"doc_id": doc_id, "org_id": org_id})).first()
    found = await _filled(conn, cache, [row], now) if row is not None else []
    return (found[0].document, orjson.loads(row.prompt)) if found and row is not None else None


async def revise(
    conn: AsyncConnection,
    cache: MessageCache,
    org_id: str,
    doc_id: str,
    change: Callable[[Document], None],
    now: datetime,
) -> Document | None:
    """Changes the session's document in place (`change`), its row locked, keeping its status, expiry
    and messages; returns the changed document, or None when the session is gone."""
    found = await get_for_update(conn, cache, org_id, doc_id, now)
    if found is None:
        return None
    document = found.document
    change(document)
    await replace(conn, cache, org_id, found, dict(document), now, found.expires_at, new_messages=False)
    document["updatedAt"] = iso(now)
    return document


async def existing(conn: AsyncConnection, org_id: str, ids: Sequence[str]) -> set[str]:
    """Which of `ids` are the org's sessions."""
    if not ids:
        return set()
    statement = select(sessions.c.id).where(sessions.c.org_id == org_id, sessions.c.id.in_(list(ids)))
    return {str(found) for found in (await conn.execute(statement)).scalars()}


async def expire_due(conn: AsyncConnection, now: datetime, limit: int) -> list[tuple[str, str]]:
    """Marks up to `limit` sessions whose time ran out (and that no turn holds) completed; returns their
    (org id, session id). Reads already show them completed: this makes it so in the row, once."""
    candidates = (
        await conn.execute(
            select(sessions.c.org_id, sessions.c.id)
            .where(sessions.c.status == "active", sessions.c.expires_at <= now)
            .order_by(sessions.c.expires_at)
            .limit(limit)
        )
    ).all()
    expired: list[tuple[str, str]] = []
    for org_id, session_id in candidates:
        result = await conn.execute(
            sa_update(sessions)
            .where(
                sessions.c.id == session_id,
                sessions.c.status == "active",
                sessions.c.expires_at <= now,
                or_(sessions.c.lease_until.is_(None), sessions.c.lease_until < now),
            )
            .values(status="completed")
        )
        if result.rowcount:
            expired.append((str(org_id), str(session_id)))
    return expired


async def read_for_turn(
    connect: Callable[[], Awaitable[AsyncConnection]], cache: MessageCache, row: Row[Any], now: datetime
) -> SessionState | None:
    """The turn's view of the session whose row its lease returned; `connect` opens a connection only
    when messages must be read (they usually come from this process's cache)."""
    document = to_document(row, now)
    if document.get("messages", []) is None:
        messages: list[Any] | None = (
            message_logs.cached(cache, row.log_id, row.log_length) if row.log_id is not None else []
        )
        if messages is None:
            found = await _filled(await connect(), cache, [row], now)
            if not found:
                return None
            document = found[0].document
        else:
            document["messages"] = messages
    return SessionState(document, orjson.loads(row.prompt), (row.log_id, row.log_length))


async def replace(
    conn: AsyncConnection,
    cache: MessageCache,
    org_id: str,
    stored: StoredSession,
    document: Document,
    now: datetime,
    expires_at: datetime,
    *,
    new_messages: bool,
) -> None:
    """Stores the changed session; with `new_messages`, its `messages` go to a new log (chats that read
    the old one keep it) and whatever nothing references any more is deleted."""
    status = str(document.pop("status", "active"))
    columns = _columns(document, status, expires_at)
    if new_messages:
        log_id, length = await log_appends.create(conn, org_id, list(document.get("messages") or []), now)
        columns.update(log_id=log_id, log_length=length)
    await documents.update_document(
        conn,
        sessions,
        org_id=org_id,
        doc_id=str(document["id"]),
        document={**document, "messages": None},
        updated_at=now,
        columns=columns,
    )
    if new_messages:
        await message_logs.release(conn, cache, [stored.log[0]])


async def delete(
    conn: AsyncConnection, cache: MessageCache, org_id: str, doc_id: str, now: datetime
) -> Document | None:
    found = await get_for_update(conn, cache, org_id, doc_id, now)
    if found is None:
        return None
    await conn.execute(sa_delete(sessions).where(sessions.c.id == doc_id, sessions.c.org_id == org_id))
    await message_logs.release(conn, cache, [found.log[0]])
    return found.document


async def list_(
    conn: AsyncConnection, cache: MessageCache, org_id: str, query: ListQuery, now: datetime
) -> Page:
    rows: list[Row[Any]] = []

    def keep(row: Row[Any]) -> Document:
        rows.append(row)
        return {}

    page = await documents.list_documents(conn, sessions, org_id, query, count=True, convert=keep)
    page.items = [stored.document for stored in await _filled(conn, cache, rows, now)]
    return page


async def latest_for_customer(
    conn: AsyncConnection, org_id: str, assistant_id: str, key: str, now: datetime
) -> str | None:
    """The id of the customer's most recent session with this assistant that still takes chats."""
    statement = (
        select(sessions.c.id)
        .where(
            sessions.c.org_id == org_id,
            sessions.c.assistant_id == assistant_id,
            sessions.c.customer_key == key,
            sessions.c.status == "active",
            sessions.c.expires_at > now,
        )
        .order_by(sessions.c.created_at.desc())
        .limit(1)
    )
    found = (await conn.execute(statement)).scalar_one_or_none()
    return str(found) if found is not None else None
