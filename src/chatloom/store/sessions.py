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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import orjson
from sqlalchemy import Row, bindparam, or_, select, update
from sqlalchemy import delete as sa_delete
from sqlalchemy.ext.asyncio import AsyncConnection

from chatloom.domain.errors import SessionBusy
from chatloom.domain.messages import Message
from chatloom.store import documents, message_logs, raw_sqlite
from chatloom.store.db import Database
from chatloom.store.documents import Document, ListQuery, Page
from chatloom.store.message_cache import MessageCache
from chatloom.store.tables import sessions

SORTABLE = {"createdAt": "created_at", "cost": "cost", "duration": "created_at"}
"""`sortBy` values and their columns; a chat session has no duration, so `duration` sorts by creation."""

LeaseState = Literal["acquired", "busy", "missing", "completed", "expired"]


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
        found.append(StoredSession(document, row.expires_at, (row.log_id, row.log_length)))
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
    log_id, length = await message_logs.create(conn, org_id, list(document.get("messages") or []), now)
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
_TOUCH_RETURNING = (
    update(sessions)
    .where(sessions.c.id == bindparam("p_id"), sessions.c.org_id == bindparam("p_org_id"))
    .values(lease_until=sessions.c.lease_until)
    .returning(*sessions.c)
)
"""On SQLite, a row "locked" for a transaction is one it wrote: this no-op UPDATE takes the database's
write lock and reads the row in one statement (a SELECT would need a BEGIN IMMEDIATE before it)."""


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
        log_id, length = await message_logs.create(conn, org_id, list(document.get("messages") or []), now)
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


_TAKE_LEASE = (
    update(sessions)
    .where(
        sessions.c.id == bindparam("p_doc_id"),
        sessions.c.org_id == bindparam("p_org_id"),
        sessions.c.status == "active",
        sessions.c.expires_at > bindparam("p_now"),
        or_(sessions.c.lease_owner.is_(None), sessions.c.lease_until <= bindparam("p_now")),
    )
    .values(lease_owner=bindparam("p_owner"), lease_until=bindparam("p_until"))
    .returning(*sessions.c)
)


_RAW_TAKE_LEASE = """UPDATE sessions
SET lease_owner = :p_owner, lease_until = CAST(:p_until AS TIMESTAMP WITH TIME ZONE)
WHERE id = :p_doc_id AND org_id = :p_org_id AND status = 'active'
  AND expires_at > CAST(:p_now AS TIMESTAMP WITH TIME ZONE)
  AND (lease_owner IS NULL OR lease_until <= CAST(:p_now AS TIMESTAMP WITH TIME ZONE))
RETURNING *"""
_SQLITE_TAKE_LEASE = """UPDATE sessions SET lease_owner = :p_owner, lease_until = :p_until
WHERE id = :p_doc_id AND org_id = :p_org_id AND status = 'active' AND expires_at > :p_now
  AND (lease_owner IS NULL OR lease_until <= :p_now)
RETURNING *"""
_RAW_STATE = "SELECT status, expires_at FROM sessions WHERE id = :p_doc_id AND org_id = :p_org_id"


async def try_lease(
    db: Database, org_id: str, doc_id: str, owner: str, now: datetime, until: datetime
) -> tuple[LeaseState, Any]:
    """Takes the session's turn lease if it is free (or its holder's lease ran out); with it, the
    session's row as the lease found it (the turn reads nothing else of it). One statement, committed
    by itself (on PostgreSQL straight on asyncpg: it is every session turn's first)."""
    values = {"p_doc_id": doc_id, "p_org_id": org_id, "p_now": now, "p_owner": owner, "p_until": until}
    if db.raw is not None:
        taken = await db.raw.fetchrow(_RAW_TAKE_LEASE, values)
        if taken is not None:
            return "acquired", taken
        return _refusal(await db.raw.fetchrow(_RAW_STATE, values), now), None
    async with db.single_statement() as conn:  # a refusal's second look needs no lock
        driver = db.sqlite_driver(conn)
        row: Any
        if driver is not None:
            row, _ = await raw_sqlite.execute(driver, _SQLITE_TAKE_LEASE, values)
        else:
            row = (await conn.execute(_TAKE_LEASE, values)).first()
        if row is not None:
            return "acquired", row
        row = (
            await conn.execute(
                select(sessions.c.status, sessions.c.expires_at).where(
                    sessions.c.id == doc_id, sessions.c.org_id == org_id
                )
            )
        ).first()
    return _refusal(row, now), None


def _refusal(row: Any, now: datetime) -> LeaseState:
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


async def lock_for_turn(conn: AsyncConnection, org_id: str, doc_id: str) -> Row[Any] | None:
    """The session's row, locked for the transaction that stores a turn (None once it is deleted).
    On SQLite this is the transaction's first statement (see `_TOUCH_RETURNING`)."""
    if conn.dialect.name == "sqlite":
        return (await conn.execute(_TOUCH_RETURNING, {"p_id": doc_id, "p_org_id": org_id})).first()
    return (await conn.execute(_LOCKED_BY_ID, {"doc_id": doc_id, "org_id": org_id})).first()


def log_of(row: Row[Any]) -> LogEnd:
    return (row.log_id, row.log_length)


async def append_turn(
    conn: AsyncConnection,
    row: Row[Any],
    owner: str,
    log: LogEnd,
    cost_entries: list[dict[str, Any]],
    now: datetime,
    active: dict[str, Any] | None = None,
) -> None:
    """Records a turn on the session locked by `lock_for_turn`: its messages now end at `log` (already
    appended there), its costs are added, and the lease is released.

    The read and the write happen under the row lock (PostgreSQL) or the database write lock (SQLite),
    so concurrent changes are never lost; only the small document body is rewritten, never the history.
    Raises SessionBusy (rolling back the whole transaction, the appended messages included) when another
    turn took the lease after ours ran out.
    """
    if row.lease_owner != owner:
        raise lease_lost(row.id)
    values = turn_values(row, log, cost_entries, now, active)
    await conn.execute(
        _STORE_TURN, {"p_doc_id": row.id, **{f"p_{name}": value for name, value in values.items()}}
    )


def turn_values(
    row: Row[Any],
    log: LogEnd,
    cost_entries: list[dict[str, Any]],
    now: datetime,
    active: dict[str, Any] | None,
) -> dict[str, Any]:
    """The columns a turn rewrites on the session `row`: its body with the turn's costs added (and the
    squad's next assistant), its new end of log and expiry, and its lease released."""
    body: Document = orjson.loads(row.body)
    body["costs"] = add_costs(body.get("costs", []), cost_entries)
    body["cost"] = body.get("cost", 0.0) + sum(entry["cost"] for entry in cost_entries)
    if active is not None:  # a squad's session: the assistant that answers its next turn
        body["activeAssistant"] = active
    return {
        "body": documents.dump_body(body),
        "cost": body["cost"],
        "updated_at": now,
        "expires_at": now + timedelta(seconds=float(body.get("expirationSeconds", 86400))),
        "log_id": log[0],
        "log_length": log[1],
        "lease_owner": None,
        "lease_until": None,
    }


_STORE_TURN = (
    update(sessions)
    .where(sessions.c.id == bindparam("p_doc_id"))
    .values(
        body=bindparam("p_body"),
        cost=bindparam("p_cost"),
        updated_at=bindparam("p_updated_at"),
        expires_at=bindparam("p_expires_at"),
        log_id=bindparam("p_log_id"),
        log_length=bindparam("p_log_length"),
        lease_owner=bindparam("p_lease_owner"),
        lease_until=bindparam("p_lease_until"),
    )
)


_MOVE_LOG = (
    update(sessions)
    .where(sessions.c.id == bindparam("p_doc_id"))
    .values(log_id=bindparam("p_log_id"), log_length=bindparam("p_log_length"))
)


def unchanged_turn_values(
    org_id: str,
    row: Any,
    owner: str,
    log: LogEnd,
    cost_entries: list[dict[str, Any]],
    now: datetime,
    active: dict[str, Any] | None,
) -> dict[str, Any]:
    """`turn_values`, and what identifies the session as the lease found it (`doc_id`, `org_id`, `owner`,
    `seen_body`, `seen_log_id`, `seen_log_length`): a turn's record on a session that nothing changed
    since its lease was taken, which needs no locking read first (`sqlite_turns.store_session_turn`)."""
    values = turn_values(row, log, cost_entries, now, active)
    values.update(
        doc_id=row.id,
        org_id=org_id,
        owner=owner,
        seen_body=row.body,
        seen_log_id=row.log_id,
        seen_log_length=row.log_length,
    )
    return values


async def move_log(conn: AsyncConnection, doc_id: str, log: LogEnd) -> None:
    """Points the session at another log (its messages were appended in a fork)."""
    await conn.execute(_MOVE_LOG, {"p_doc_id": doc_id, "p_log_id": log[0], "p_log_length": log[1]})


def lease_lost(doc_id: str) -> SessionBusy:
    return SessionBusy(
        f"Session {doc_id} was taken over by another chat after this chat's hold on it lapsed; "
        "this chat was not stored. Try again."
    )


_OWNED = (
    sessions.c.id == bindparam("p_doc_id"),
    sessions.c.org_id == bindparam("p_org_id"),
    sessions.c.lease_owner == bindparam("p_owner"),
)
_RENEW = update(sessions).where(*_OWNED).values(lease_until=bindparam("p_until"))
_RELEASE = update(sessions).where(*_OWNED).values(lease_owner=None, lease_until=None)


async def renew_lease(conn: AsyncConnection, org_id: str, doc_id: str, owner: str, until: datetime) -> bool:
    """Extends the lease while `owner` still holds it; False when it was lost (or the session deleted)."""
    values = {"p_doc_id": doc_id, "p_org_id": org_id, "p_owner": owner, "p_until": until}
    return bool((await conn.execute(_RENEW, values)).rowcount)


async def release_lease(conn: AsyncConnection, org_id: str, doc_id: str, owner: str) -> None:
    await conn.execute(_RELEASE, {"p_doc_id": doc_id, "p_org_id": org_id, "p_owner": owner})
