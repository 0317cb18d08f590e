"""Background jobs on both databases: queueing is idempotent and transactional, every job runs exactly once
however many runners claim, failures are retried with growing pauses and then given up, concurrency stays
within its bound, recurring jobs run once per period, and old finished jobs are purged.

No test sleeps: runners are driven with `run_once` and a clock the test moves."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from chatloom.jobs.recurring import Recurring
from chatloom.store import jobs as job_rows
from chatloom.store.db import Database
from chatloom.store.jobs import Job, PermanentJobError
from chatloom.store.tables import jobs as job_table
from tests.support.databases import database_of_its_own
from tests.support.engine_world import run
from tests.support.jobs import LONG_AGO, Clock, Outcomes, database, new_kind, queue, runner, settled, state


def test_queueing_a_job_twice_queues_it_once_and_only_with_its_transaction(backend: str) -> None:
    async def play() -> None:
        async with database(backend) as db:
            kind, clock = new_kind(), Clock()
            assert await queue(db, kind, "session-1", clock(), {"sessionId": "s1"})
            assert not await queue(db, kind, "session-1", clock(), {"sessionId": "other"})
            assert await queue(db, kind, "session-2", clock())
            found = await state(db, kind, "session-1")
            assert (found.status, found.job.attempts, found.job.payload) == ("queued", 0, {"sessionId": "s1"})
            with pytest.raises(RuntimeError):
                async with db.write() as conn:
                    await job_rows.enqueue(
                        conn, kind=kind, key="rolled-back", payload={}, org_id=None, now=clock()
                    )
                    raise RuntimeError("the caller's transaction fails")
            async with db.read() as conn:
                assert await job_rows.get(conn, kind, "rolled-back") is None
            with pytest.raises(ValueError):
                await queue(db, kind, "k" * 201, clock())

    run(backend, play)


def test_two_runners_run_fifty_jobs_each_exactly_once(backend: str) -> None:
    async def play() -> None:
        async with database(backend) as db:
            kind, clock = new_kind(), Clock()
            ran: list[str] = []

            async def handle(job: Job) -> None:
                await asyncio.sleep(0)  # lets the other runner claim in between
                ran.append(job.key)

            first, second = (runner(db, {kind: handle}, clock, concurrency=4) for _ in range(2))
            await settled(first, second)
            for number in range(50):
                await queue(db, kind, f"job-{number}", clock())
            for _ in range(50):
                if not sum(await asyncio.gather(first.run_once(), second.run_once())):
                    break
            assert sorted(Counter(ran).values()) == [1] * 50
            assert {(await state(db, kind, f"job-{n}")).status for n in range(50)} == {"done"}

    run(backend, play)


def test_two_started_runners_share_the_work_and_each_job_runs_once(backend: str) -> None:
    async def play() -> None:
        async with database(backend) as db:
            kind, clock = new_kind(), Clock()
            ran: list[str] = []
            all_ran = asyncio.Event()

            async def handle(job: Job) -> None:
                ran.append(job.key)
                if len(ran) >= 50:
                    all_ran.set()

            runners = [runner(db, {kind: handle}, clock, concurrency=3) for _ in range(2)]
            for each in runners:
                await each.start()
            for number in range(50):
                await queue(db, kind, f"job-{number}", clock())
                runners[number % 2].wake()
            await asyncio.wait_for(all_ran.wait(), timeout=30)
            for each in runners:
                await each.aclose(grace_seconds=5)
            assert sorted(Counter(ran).values()) == [1] * 50

    run(backend, play)


def test_a_failing_job_is_retried_later_and_later_then_given_up(backend: str) -> None:
    async def play() -> None:
        async with database(backend) as db:
            kind, clock, outcomes = new_kind(), Clock(), Outcomes()
            calls: list[int] = []

            async def handle(job: Job) -> None:
                calls.append(job.attempts)
                raise RuntimeError("upstream said no\nsecond line")

            jobs = runner(
                db, {kind: handle}, clock, max_attempts=3, base_backoff_seconds=10, observer=outcomes
            )
            await settled(jobs)
            await queue(db, kind, "flaky", clock())
            await jobs.run_once()
            first = await state(db, kind, "flaky")
            assert (first.status, first.job.attempts, calls) == ("queued", 1, [1])
            assert first.last_error == "RuntimeError: upstream said no"
            assert clock() + timedelta(seconds=5) <= first.run_after <= clock() + timedelta(seconds=10)
            await jobs.run_once()
            assert calls == [1]  # not due yet
            clock.now = first.run_after
            await jobs.run_once()
            second = await state(db, kind, "flaky")
            assert (second.status, second.job.attempts) == ("queued", 2)
            assert clock() + timedelta(seconds=10) <= second.run_after <= clock() + timedelta(seconds=20)
            clock.now = second.run_after
            await jobs.run_once()
            last = await state(db, kind, "flaky")
            assert (last.status, last.job.attempts, calls) == ("failed", 3, [1, 2, 3])
            assert last.finished_at == clock() and last.lease_owner is None
            assert [o for k, o in outcomes.seen if k == kind] == ["retried", "retried", "failed"]

    run(backend, play)


def test_a_permanent_error_fails_the_job_at_once(backend: str) -> None:
    async def play() -> None:
        async with database(backend) as db:
            kind, clock = new_kind(), Clock()

            async def handle(job: Job) -> None:
                raise PermanentJobError("the session is gone")

            jobs = runner(db, {kind: handle}, clock)
            await settled(jobs)
            await queue(db, kind, "gone", clock())
            await jobs.run_once()
            found = await state(db, kind, "gone")
            assert (found.status, found.job.attempts) == ("failed", 1)
            assert found.last_error == "PermanentJobError: the session is gone"

    run(backend, play)


def test_a_job_whose_payload_was_spoiled_fails_and_the_others_still_run(backend: str) -> None:
    async def play() -> None:
        async with database(backend) as db:
            kind, clock = new_kind(), Clock()
            ran: list[str] = []

            async def handle(job: Job) -> None:
                ran.append(job.key)

            jobs = runner(db, {kind: handle}, clock)
            await settled(jobs)
            for key in ("spoiled", "fine"):
                await queue(db, kind, key, clock())
            async with db.write() as conn:
                await conn.execute(
                    update(job_table)
                    .where(job_table.c.key == "spoiled", job_table.c.kind == kind)
                    .values(payload="[")
                )
            await jobs.run_once()
            spoiled = await state_row(db, kind, "spoiled")
            assert (ran, spoiled.status, spoiled.last_error) == (
                ["fine"],
                "failed",
                "its payload is not a JSON object",
            )

    run(backend, play)


async def state_row(db: Database, kind: str, key: str) -> Any:
    """A job's row as stored (`get` would not decode a spoiled payload)."""
    async with db.read() as conn:
        query = select(job_table).where(job_table.c.kind == kind, job_table.c.key == key)
        return (await conn.execute(query)).one()


def test_a_runner_never_runs_more_jobs_at_once_than_its_concurrency(backend: str) -> None:
    async def play() -> None:
        async with database(backend) as db:
            kind, clock = new_kind(), Clock()
            active, most = 0, 0
            three_running, go = asyncio.Event(), asyncio.Event()

            async def handle(job: Job) -> None:
                nonlocal active, most
                active += 1
                most = max(most, active)
                if active == 3:
                    three_running.set()
                await go.wait()
                active -= 1

            jobs = runner(db, {kind: handle}, clock, concurrency=3)
            await settled(jobs)
            for number in range(10):
                await queue(db, kind, f"job-{number}", clock())
            first = asyncio.create_task(jobs.run_once())
            await asyncio.wait_for(three_running.wait(), timeout=10)
            assert await jobs.run_once() == 0  # no free slot: claims nothing
            assert jobs.running == 3
            go.set()
            assert await first == 3
            total = 3
            while ran := await jobs.run_once():
                total += ran
            assert (total, most) == (10, 3)

    run(backend, play)


def test_a_recurring_job_runs_once_per_period_with_two_runners(backend: str) -> None:
    async def play() -> None:
        async with database(backend) as db:
            kind, clock = new_kind(), Clock()
            ran: list[str] = []

            async def handle(job: Job) -> None:
                ran.append(job.key)

            every = Recurring(kind, every_seconds=60)
            runners = [runner(db, {kind: handle}, clock, recurring=[every]) for _ in range(2)]
            for _ in range(3):
                for _ in range(2):
                    await asyncio.gather(*(each.run_once() for each in runners))
                clock.advance(60)
            periods = [every.key(every.period_start(clock() - timedelta(seconds=s))) for s in (180, 120, 60)]
            assert ran == periods

    run(backend, play)


def test_the_purge_deletes_only_finished_jobs_older_than_kept(backend: str) -> None:
    async def play() -> None:
        async with database(backend) as db:
            kind, clock = new_kind(), Clock(LONG_AGO)

            async def handle(job: Job) -> None:
                if job.key == "bad":
                    raise PermanentJobError("bad")

            old = runner(db, {kind: handle}, clock, keep_finished_seconds=60)
            for key in ("a", "b", "bad"):
                await queue(db, kind, key, clock())
            await queue(db, kind, "later", clock() + timedelta(days=1))  # stays queued
            await settled(old)
            clock.advance(3000)
            await queue(db, kind, "recent", clock())
            await settled(old)
            # The purge keeps finished jobs an hour at least (its own period), so the row of a period's
            # purge stops a process started later in that period from queueing it again.
            assert old.keep_finished_seconds == 3600
            clock.advance(3600 - 3000 + 1)
            await settled(old)
            async with db.read() as conn:
                remaining = {
                    key: await job_rows.get(conn, kind, key) for key in ("a", "b", "bad", "later", "recent")
                }
            assert {key for key, found in remaining.items() if found is not None} == {"later", "recent"}

    run(backend, play)


def test_purging_goes_in_bounded_batches(backend: str, tmp_path: Path) -> None:
    # A database of its own: a purge deletes every kind's finished jobs, and the suite's server, on the
    # shared database, runs jobs (and purges) of its own meanwhile.
    kind_of_database = "sqlite" if backend.startswith("sqlite") else "postgresql"
    with database_of_its_own(kind_of_database, tmp_path) as url:
        run(url, lambda: purge_in_batches(url))


async def purge_in_batches(url: str) -> None:
    async with database(url) as db:
        kind, clock = new_kind(), Clock(LONG_AGO - timedelta(days=1))

        async def handle(job: Job) -> None:
            pass

        jobs = runner(db, {kind: handle}, clock)
        await settled(jobs)
        for number in range(5):
            await queue(db, kind, f"job-{number}", clock())
        await settled(jobs)
        before = clock() + timedelta(seconds=1)
        deleted = []
        for _ in range(4):
            async with db.write() as conn:
                deleted.append(await job_rows.purge(conn, before, 2))
        # The hourly purge's own row of that hour is finished too.
        assert deleted == [2, 2, 2, 0]
