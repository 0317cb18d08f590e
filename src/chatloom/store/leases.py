"""Session leases: the hold that serializes a session's turns across processes, taken (`try_lease`: one
statement, which also returns the session's row), renewed while a turn runs, released when it ends or
fails. The turn's own write releases it too (`turns.session`). Statements on the fastest driver there is."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from chatloom.store import raw_sqlite
from chatloom.store.db import Database
from chatloom.store.tables import sessions

LeaseState = Literal["acquired", "busy", "missing", "completed", "expired"]


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
