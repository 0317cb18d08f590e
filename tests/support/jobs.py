"""Background jobs in tests: a clock the test moves, a database per scenario, and an observer that keeps what
the runner reported. Every scenario uses job kinds of its own, so scenarios sharing a database never
claim each other's jobs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from chatloom.domain.ids import utc_now
from chatloom.jobs.runner import JobHandler, JobRunner
from chatloom.observability.hooks import Observer
from chatloom.store import jobs as job_rows
from chatloom.store.db import Database, create_engine
from chatloom.store.jobs import JobState


class Clock:
    """Now, as the runners see it; starts a minute into the current hour (so that the runner's hourly purge
    is queued once per test however far the test moves it, by less than an hour)."""

    def __init__(self, start: datetime | None = None) -> None:
        hour = utc_now().replace(minute=0, second=0, microsecond=0)
        self.now = start or hour + timedelta(minutes=1)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


LONG_AGO = datetime(2001, 1, 1, 0, 1, tzinfo=UTC)
"""A clock start no other scenario's jobs are near (for the purge, which sees every kind)."""


class Outcomes(Observer):
    """Keeps each `job_finished` report as (kind, outcome)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, str]] = []

    def job_finished(self, kind: str, outcome: str, seconds: float) -> None:
        self.seen.append((kind, outcome))


def new_kind() -> str:
    return f"test.{uuid4().hex[:12]}"


@asynccontextmanager
async def database(url: str) -> AsyncIterator[Database]:
    db = Database(create_engine(url, pool_size=4))
    try:
        yield db
    finally:
        await db.dispose()


async def queue(
    db: Database, kind: str, key: str, now: datetime, payload: dict[str, Any] | None = None
) -> bool:
    async with db.write(starts_with_write=True) as conn:
        return await job_rows.enqueue(conn, kind=kind, key=key, payload=payload or {}, org_id=None, now=now)


async def state(db: Database, kind: str, key: str) -> JobState:
    async with db.read() as conn:
        found = await job_rows.get(conn, kind, key)
    assert found is not None, (kind, key)
    return found


def runner(db: Database, handlers: dict[str, JobHandler], clock: Clock, **options: Any) -> JobRunner:
    return JobRunner(db, handlers, clock=clock, poll_seconds=0.05, **options)


async def settled(*runners: JobRunner) -> None:
    """Runs whatever is due (the hourly purge of the clock's hour, most often) until nothing is."""
    for _ in range(10):
        if not sum(await asyncio.gather(*(each.run_once() for each in runners))):
            return
    raise AssertionError("jobs kept coming")
