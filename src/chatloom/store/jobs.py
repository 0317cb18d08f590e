"""Jobs: durable background work in the server's own database, claimed by one process at a time.

A job is one row, unique by `(kind, key)`: queueing the same logical job twice queues it once, and
`enqueue` runs inside the caller's transaction (the job exists exactly when what caused it committed).
A process takes jobs with `claim`, which gives each due job to exactly one caller on both databases: on
PostgreSQL the candidates are locked (`FOR UPDATE SKIP LOCKED`) so other claimers pass over them, on SQLite
the claim's transaction holds the write lock, and on both the UPDATE that takes them repeats the
conditions. A claimed job is `running` under a lease (its owner's token and an expiry) that its process
renews; a job whose lease ran out (its process died) is claimable again. Every later change (`finish`,
`retry`, `fail`, `release`, `renew`) applies only while the caller still holds the lease.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import orjson
from sqlalchemy import and_, bindparam, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from chatloom.domain.ids import new_id
from chatloom.store.tables import jobs

Status = Literal["queued", "running", "done", "failed"]
STATUSES: tuple[Status, ...] = ("queued", "running", "done", "failed")
MAX_KIND_CHARS = 64
MAX_KEY_CHARS = 200
MAX_PAYLOAD_BYTES = 64 * 1024
"""A payload names what the job is about (ids, options); anything larger belongs in its own table."""
MAX_ERROR_CHARS = 500
MAX_CLAIM = 1000
MAX_PURGE_BATCH = 10_000


class PermanentJobError(Exception):
    """Raised by a job's handler when running the job again cannot help (what it is about is gone, or
    invalid): the job fails at once instead of being retried. Its message is stored: no secrets."""


@dataclass(frozen=True, slots=True)
class Job:
    """A claimed job, as its handler gets it. `attempts` counts this run (the first run is 1)."""

    id: str
    kind: str
    key: str
    org_id: str | None
    payload: dict[str, Any]
    attempts: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class JobState:
    """A job's row: the job and where it stands (for tests, metrics and operators)."""

    job: Job
    status: Status
    run_after: datetime
    lease_owner: str | None
    lease_until: datetime | None
    last_error: str | None
    updated_at: datetime
    finished_at: datetime | None


def _job(row: Any) -> Job:
    payload = orjson.loads(row.payload)
    if not isinstance(payload, dict):
        raise TypeError("a job's payload is a JSON object")
    return Job(
        id=row.id,
        kind=row.kind,
        key=row.key,
        org_id=row.org_id,
        payload=payload,
        attempts=row.attempts,
        created_at=row.created_at,
    )


def bounded_error(error: str) -> str:
    """An error as stored: its first line, at most MAX_ERROR_CHARS characters."""
    first = error.strip().splitlines()[0] if error.strip() else ""
    return first[:MAX_ERROR_CHARS]


def _insert_values() -> dict[str, Any]:
    names = ("id", "org_id", "kind", "key", "payload", "status", "attempts", "run_after")
    return {name: bindparam(name) for name in (*names, "created_at", "updated_at")}


# ON CONFLICT DO NOTHING has each dialect's own construct; both are built once. RETURNING tells a new row
# from a conflict (and keeps SQLite's driver from deferring the INSERT to the commit).
_ENQUEUE = {
    "postgresql": postgresql.insert(jobs)
    .values(_insert_values())
    .on_conflict_do_nothing(index_elements=["kind", "key"])
    .returning(jobs.c.id),
    "sqlite": sqlite.insert(jobs)
    .values(_insert_values())
    .on_conflict_do_nothing(index_elements=["kind", "key"])
    .returning(jobs.c.id),
}


async def enqueue(
    conn: AsyncConnection,
    *,
    kind: str,
    key: str,
    payload: Mapping[str, Any],
    org_id: str | None,
    now: datetime,
    run_after: datetime | None = None,
) -> bool:
    """Queues a job unless one of the same `(kind, key)` exists (whatever its status); True when this call
    queued it. One statement, in the caller's transaction: the job commits or rolls back with it."""
    if not kind or len(kind) > MAX_KIND_CHARS:
        raise ValueError(f"a job's kind has 1 to {MAX_KIND_CHARS} characters")
    if not key or len(key) > MAX_KEY_CHARS:
        raise ValueError(f"a job's key has 1 to {MAX_KEY_CHARS} characters")
    encoded = orjson.dumps(dict(payload)).decode()
    if len(encoded) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"a job's payload holds at most {MAX_PAYLOAD_BYTES} bytes of JSON")
    values = {
        "id": new_id(),
        "org_id": org_id,
        "kind": kind,
        "key": key,
        "payload": encoded,
        "status": "queued",
        "attempts": 0,
        "run_after": run_after or now,
        "created_at": now,
        "updated_at": now,
    }
    result = await conn.execute(_ENQUEUE[conn.dialect.name], values)
    return result.first() is not None


def _claimable() -> Any:
    now: Any = bindparam("p_now")
    return or_(
        and_(jobs.c.status == "queued", jobs.c.run_after <= now),
        and_(jobs.c.status == "running", jobs.c.lease_until < now),
    )


_CANDIDATES = (
    select(jobs.c.id)
    .where(_claimable(), jobs.c.kind.in_(bindparam("p_kinds", expanding=True)))
    .order_by(jobs.c.run_after, jobs.c.id)
    .limit(bindparam("p_limit"))
    # PostgreSQL: rows another claimer holds are passed over, not waited for (SQLite renders nothing: the
    # claim's transaction holds the database's write lock).
    .with_for_update(skip_locked=True)
)


_TAKE = (
    update(jobs)
    .where(jobs.c.id.in_(bindparam("p_ids", expanding=True)), _claimable())
    .values(
        status="running",
        lease_owner=bindparam("p_owner"),
        lease_until=bindparam("p_until"),
        attempts=jobs.c.attempts + 1,
        updated_at=bindparam("p_now"),
    )
    .returning(*jobs.c)
)


async def claim(
    conn: AsyncConnection,
    owner: str,
    now: datetime,
    lease_until: datetime,
    limit: int,
    kinds: Sequence[str],
) -> list[Job]:
    """Takes up to `limit` due jobs of `kinds` for `owner`, leased until `lease_until`, oldest due first:
    queued jobs whose `run_after` has come, and running jobs whose lease ran out (their process died).

    Run it in a transaction of its own (`db.write()`), committed before the jobs run."""
    limit = min(limit, MAX_CLAIM)
    if limit <= 0 or not kinds:
        return []
    found = await conn.execute(_CANDIDATES, {"p_now": now, "p_kinds": list(kinds), "p_limit": limit})
    ids = [row.id for row in found]
    if not ids:
        return []
    values = {"p_ids": ids, "p_now": now, "p_owner": owner, "p_until": lease_until}
    taken = sorted((await conn.execute(_TAKE, values)).all(), key=lambda row: (row.run_after, row.id))
    claimed = []
    for row in taken:
        try:
            claimed.append(_job(row))
        except (orjson.JSONDecodeError, TypeError):
            # Only `enqueue` writes payloads; a row changed by hand must not stop every claim after it.
            error = "its payload is not a JSON object"
            await conn.execute(_FAIL, {"p_id": row.id, "p_owner": owner, "p_now": now, "p_error": error})
    return claimed


_DUE = select(jobs.c.id).where(_claimable(), jobs.c.kind.in_(bindparam("p_kinds", expanding=True))).limit(1)


async def any_due(conn: AsyncConnection, now: datetime, kinds: Sequence[str]) -> bool:
    """Whether `claim` would find a job of `kinds` now: a read, so an idle poll takes no write lock."""
    if not kinds:
        return False
    return (await conn.execute(_DUE, {"p_now": now, "p_kinds": list(kinds)})).first() is not None


def _owned() -> Any:
    return and_(
        jobs.c.id == bindparam("p_id"),
        jobs.c.status == "running",
        jobs.c.lease_owner == bindparam("p_owner"),
    )


_RENEW = update(jobs).where(_owned()).values(lease_until=bindparam("p_until"))

_FINISH = (
    update(jobs)
    .where(_owned())
    .values(
        status="done",
        lease_owner=None,
        lease_until=None,
        updated_at=bindparam("p_now"),
        finished_at=bindparam("p_now"),
    )
)

_RETRY = (
    update(jobs)
    .where(_owned())
    .values(
        status="queued",
        lease_owner=None,
        lease_until=None,
        run_after=bindparam("p_run_after"),
        last_error=bindparam("p_error"),
        updated_at=bindparam("p_now"),
    )
)

_FAIL = (
    update(jobs)
    .where(_owned())
    .values(
        status="failed",
        lease_owner=None,
        lease_until=None,
        last_error=bindparam("p_error"),
        updated_at=bindparam("p_now"),
        finished_at=bindparam("p_now"),
    )
)

_RELEASE = (
    update(jobs)
    .where(_owned())
    .values(
        status="queued",
        lease_owner=None,
        lease_until=None,
        run_after=bindparam("p_now"),
        # The run was cut short by its own process, not by the job: it does not count.
        attempts=jobs.c.attempts - 1,
        updated_at=bindparam("p_now"),
    )
)


async def renew(conn: AsyncConnection, job_id: str, owner: str, until: datetime) -> bool:
    """Extends the lease while `owner` still holds it; False when it was lost (taken over or changed)."""
    result = await conn.execute(_RENEW, {"p_id": job_id, "p_owner": owner, "p_until": until})
    return bool(result.rowcount)


async def finish(conn: AsyncConnection, job_id: str, owner: str, now: datetime) -> bool:
    """Marks the job done if `owner` still holds it; False when the lease was lost."""
    result = await conn.execute(_FINISH, {"p_id": job_id, "p_owner": owner, "p_now": now})
    return bool(result.rowcount)


async def retry(
    conn: AsyncConnection, job_id: str, owner: str, now: datetime, run_after: datetime, error: str
) -> bool:
    """Queues the job again, due at `run_after`, noting why this run failed; False when the lease was lost."""
    values = {"p_id": job_id, "p_owner": owner, "p_now": now, "p_run_after": run_after}
    result = await conn.execute(_RETRY, {**values, "p_error": bounded_error(error)})
    return bool(result.rowcount)


async def fail(conn: AsyncConnection, job_id: str, owner: str, now: datetime, error: str) -> bool:
    """Gives the job up (status failed, kept until purged); False when the lease was lost."""
    values = {"p_id": job_id, "p_owner": owner, "p_now": now, "p_error": bounded_error(error)}
    return bool((await conn.execute(_FAIL, values)).rowcount)


async def release(conn: AsyncConnection, job_id: str, owner: str, now: datetime) -> bool:
    """Hands a job back unfinished (its process is stopping): queued again, due now, the interrupted run
    not counted as an attempt. False when the lease was already lost."""
    return bool((await conn.execute(_RELEASE, {"p_id": job_id, "p_owner": owner, "p_now": now})).rowcount)


_PURGE = delete(jobs).where(
    jobs.c.id.in_(
        select(jobs.c.id)
        .where(jobs.c.status.in_(("done", "failed")), jobs.c.finished_at < bindparam("p_before"))
        .limit(bindparam("p_limit"))
        .scalar_subquery()
    )
)


async def purge(conn: AsyncConnection, before: datetime, limit: int) -> int:
    """Deletes at most `limit` done or failed jobs that finished before `before`; returns how many. Call it
    again while it returns `limit` (each batch its own short transaction)."""
    limit = max(0, min(limit, MAX_PURGE_BATCH))
    if limit == 0:
        return 0
    return int((await conn.execute(_PURGE, {"p_before": before, "p_limit": limit})).rowcount)


async def get(conn: AsyncConnection, kind: str, key: str) -> JobState | None:
    """The job `(kind, key)` and where it stands, or None."""
    row = (await conn.execute(select(jobs).where(jobs.c.kind == kind, jobs.c.key == key))).first()
    if row is None:
        return None
    return JobState(
        job=_job(row),
        status=row.status,
        run_after=row.run_after,
        lease_owner=row.lease_owner,
        lease_until=row.lease_until,
        last_error=row.last_error,
        updated_at=row.updated_at,
        finished_at=row.finished_at,
    )


async def counts(conn: AsyncConnection) -> dict[str, int]:
    """How many jobs there are in each status (every status present, 0 when none)."""
    found = await conn.execute(select(jobs.c.status, func.count()).group_by(jobs.c.status))
    totals: dict[str, int] = dict.fromkeys(STATUSES, 0)
    for status, count in found:
        totals[status] = int(count)
    return totals
