"""Rule: a session's turn is stored only while it still holds the session's lease; it then records its
messages after the session's end, its costs and expiry, and releases the lease, atomically. A turn whose
lease was taken over is never stored (SessionBusy, on every path), and messages the session gained
meanwhile (a PATCH) are kept: the turn goes after them, while its chat keeps what the turn saw.

Fast (the usual case: the lease held and the session as the lease found it, its log still ending there):
PostgreSQL, one statement of CTEs that locks the row only under those conditions; SQLite, the session's
conditional UPDATE as the transaction's first statement, then the append at the tip. Each writes nothing
and returns None otherwise, and the portable path decides: `lock`, then `record_turn`.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Row, bindparam, update
from sqlalchemy.ext.asyncio import AsyncConnection

from chatloom.domain.errors import SessionBusy
from chatloom.store import chats, documents, log_appends
from chatloom.store.raw_postgres import RawPostgres, pg_cast
from chatloom.store.raw_sqlite import execute
from chatloom.store.sqlite_driver import OneHopConnection
from chatloom.store.tables import sessions
from chatloom.store.turns.chain import pg_append, pg_values
from chatloom.store.turns.record import LogEnd, SessionTurn, TurnRecord
from chatloom.store.turns.tip import append_at_tip, tip_append

_COLUMNS = ("body", "cost", "updated_at", "expires_at", "log_length", "lease_owner", "lease_until")

_PG_SESSION = """WITH locked AS (
    SELECT id FROM sessions
    WHERE id = :session_id AND org_id = :org_id AND lease_owner = :owner AND body = :seen_body
      AND log_id = :log_id AND log_length = CAST(:at AS integer)
    FOR UPDATE
), {append}, ended AS (
    UPDATE sessions SET {session_values}
    WHERE id IN (SELECT id FROM locked) AND EXISTS (SELECT 1 FROM advanced)
    RETURNING 1
)
SELECT (SELECT count(*) FROM advanced) AS advanced, (SELECT count(*) FROM ended) AS session"""

_SQLITE_UNCHANGED = """UPDATE sessions SET body = :body, cost = :cost, updated_at = :updated_at,
    expires_at = :expires_at, log_id = :log_id, log_length = :log_length, lease_owner = :lease_owner,
    lease_until = :lease_until
WHERE id = :doc_id AND org_id = :org_id AND lease_owner = :owner AND body = :seen_body
    AND log_id = :seen_log_id AND log_length = :seen_log_length"""

_LOCKED = (
    sessions.select()
    .where(sessions.c.id == bindparam("doc_id"), sessions.c.org_id == bindparam("org_id"))
    .with_for_update()
)
_TOUCH_RETURNING = (
    update(sessions)
    .where(sessions.c.id == bindparam("p_id"), sessions.c.org_id == bindparam("p_org_id"))
    .values(lease_until=sessions.c.lease_until)
    .returning(*sessions.c)
)
"""On SQLite, a row "locked" for a transaction is one it wrote: this no-op UPDATE takes the database's
write lock and reads the row in one statement (a SELECT would need a BEGIN IMMEDIATE before it)."""
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


def log_of(row: Row[Any] | Any) -> LogEnd:
    return (row.log_id, row.log_length)


def lease_lost(session_id: str) -> SessionBusy:
    return SessionBusy(
        f"Session {session_id} was taken over by another chat after this chat's hold on it lapsed; "
        "this chat was not stored. Try again."
    )


def turn_values(turn: SessionTurn, row: Any, log: LogEnd, now: datetime) -> dict[str, Any]:
    """The columns a turn rewrites on the session `row`: its document as the turn revises it, its new end
    of log and expiry, and its lease released."""
    revised = turn.revise(orjson.loads(row.body))
    return {
        "body": documents.dump_body(revised.body),
        "cost": revised.cost,
        "updated_at": now,
        "expires_at": now + timedelta(seconds=revised.expiration_seconds),
        "log_id": log[0],
        "log_length": log[1],
        "lease_owner": None,
        "lease_until": None,
    }


@functools.cache
def _pg_statement() -> str:
    values = ", ".join(f"{column} = {pg_cast(sessions, column, 's_')}" for column in _COLUMNS)
    return _PG_SESSION.format(append=pg_append("locked"), session_values=values)


async def record_on_postgres(raw: RawPostgres, record: TurnRecord) -> log_appends.Written | None:
    """The usual session turn in one statement; None (nothing written) when it is not the usual one."""
    turn = record.session
    assert turn is not None
    log_id, at = log_of(turn.row)
    if log_id is None:
        return None
    values, size = pg_values(record, log_id, at)
    ended = turn_values(turn, turn.row, (log_id, at + len(record.added)), record.at)
    values.update({f"s_{column}": ended[column] for column in _COLUMNS})
    values.update(session_id=turn.session_id, owner=turn.owner, seen_body=turn.row.body)
    counts = await raw.fetchrow(_pg_statement(), values)
    assert counts is not None
    if not counts.advanced:
        return None
    if not counts.session:  # the row was locked by the statement itself: this cannot happen
        raise RuntimeError(f"session {turn.session_id}: messages appended but the session not updated")
    return log_appends.Written(log_id, at, record.added, size)


def sqlite_unchanged_values(record: TurnRecord) -> dict[str, Any] | None:
    """The session's conditional UPDATE for the usual SQLite turn, prepared before the transaction; None
    when the session has no log yet (not the usual case)."""
    turn = record.session
    assert turn is not None
    log_id, end = log_of(turn.row)
    if log_id is None or record.base != (log_id, end):
        return None
    values = turn_values(turn, turn.row, (log_id, end + len(record.added)), record.at)
    values.update(
        doc_id=turn.session_id,
        org_id=record.org_id,
        owner=turn.owner,
        seen_body=turn.row.body,
        seen_log_id=log_id,
        seen_log_length=end,
    )
    return values


async def record_on_sqlite(
    conn: AsyncConnection, driver: OneHopConnection, record: TurnRecord, values: dict[str, Any]
) -> log_appends.Written | None:
    """The usual SQLite session turn, starting its transaction with the session's UPDATE (no locking read
    before it): False from that UPDATE (the session changed, the lease was lost) writes nothing and
    returns None. Once it is written nothing can delete the log or this end of it meanwhile."""
    turn = record.session
    assert turn is not None
    _, updated = await execute(driver, _SQLITE_UNCHANGED, values)
    if not updated:
        return None
    base = (values["seen_log_id"], values["seen_log_length"])
    written = await append_at_tip(driver, tip_append(record, base))
    if written is not None:
        return written
    written = await log_appends.append(conn, record.org_id, base, record.history, record.added, record.at)
    if written.log_id != base[0]:  # the log went on past this end: the messages went to a fork
        await move_log(conn, turn.session_id, written)
    place = chats.place_after(written.log_id, written.start, len(record.added), len(record.chat["output"]))
    await chats.insert(conn, record.org_id, record.chat_id, record.chat, place, record.at)
    return written


async def lock(conn: AsyncConnection, org_id: str, session_id: str) -> Row[Any] | None:
    """Portable: the session's row, locked for the transaction that stores a turn (None once it is
    deleted). On SQLite this is the transaction's first statement (see `_TOUCH_RETURNING`)."""
    if conn.dialect.name == "sqlite":
        return (await conn.execute(_TOUCH_RETURNING, {"p_id": session_id, "p_org_id": org_id})).first()
    return (await conn.execute(_LOCKED, {"doc_id": session_id, "org_id": org_id})).first()


async def record_turn(
    conn: AsyncConnection, turn: SessionTurn, row: Row[Any], log: LogEnd, now: datetime
) -> None:
    """Portable: records the turn on the session `lock` returned (its messages now end at `log`, already
    appended), releasing the lease; SessionBusy (rolling back the whole transaction, the appended
    messages included) when another turn took the lease after ours ran out."""
    if row.lease_owner != turn.owner:
        raise lease_lost(row.id)
    values = turn_values(turn, row, log, now)
    await conn.execute(
        _STORE_TURN, {"p_doc_id": row.id, **{f"p_{name}": value for name, value in values.items()}}
    )


async def move_log(conn: AsyncConnection, session_id: str, written: log_appends.Written) -> None:
    """Points the session at the fork its turn's messages went to."""
    end = written.start + len(written.messages)
    await conn.execute(_MOVE_LOG, {"p_doc_id": session_id, "p_log_id": written.log_id, "p_log_length": end})
