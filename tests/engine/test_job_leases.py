"""Job leases on both databases: a job whose process died is taken over once its lease runs out, a runner
that lost a job's lease stops its handler and records nothing, and a stopping runner hands back the jobs it
could not finish. No test sleeps: the clock is moved and the runners driven by the test."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from chatloom.store import jobs as job_rows
from chatloom.store.jobs import Job
from tests.support.engine_world import run
from tests.support.jobs import Clock, Outcomes, database, new_kind, queue, runner, settled, state


def test_a_job_whose_process_died_is_taken_over_after_its_lease(backend: str) -> None:
    async def play() -> None:
        async with database(backend) as db:
            kind, clock = new_kind(), Clock()
            ran: list[tuple[str, int]] = []

            async def handle(job: Job) -> None:
                ran.append((job.key, job.attempts))

            jobs = runner(db, {kind: handle}, clock, lease_seconds=60)
            await settled(jobs)
            await queue(db, kind, "orphan", clock())
            # A process claims it and dies: its lease is never renewed, the job never finished.
            async with db.write() as conn:
                taken = await job_rows.claim(
                    conn, "dead", clock(), clock() + timedelta(seconds=60), 10, [kind]
                )
            assert [job.key for job in taken] == ["orphan"]
            await jobs.run_once()
            assert ran == []  # still leased
            clock.advance(61)
            await jobs.run_once()
            assert ran == [("orphan", 2)]
            found = await state(db, kind, "orphan")
            assert (found.status, found.lease_owner) == ("done", None)

    run(backend, play)


def test_a_job_interrupted_on_every_attempt_is_given_up(backend: str) -> None:
    async def play() -> None:
        async with database(backend) as db:
            kind, clock = new_kind(), Clock()
            ran: list[int] = []

            async def handle(job: Job) -> None:
                ran.append(job.attempts)

            jobs = runner(db, {kind: handle}, clock, lease_seconds=60, max_attempts=2)
            await settled(jobs)
            await queue(db, kind, "poison", clock())
            for owner in ("dead-1", "dead-2"):  # each process that took it died running it
                async with db.write() as conn:
                    until = clock() + timedelta(seconds=60)
                    assert await job_rows.claim(conn, owner, clock(), until, 10, [kind])
                clock.advance(61)
            await jobs.run_once()
            found = await state(db, kind, "poison")
            assert (ran, found.status, found.job.attempts) == ([], "failed", 3)
            assert found.last_error is not None and "interrupted" in found.last_error

    run(backend, play)


def test_a_runner_that_lost_a_lease_cancels_the_handler_and_records_nothing(backend: str) -> None:
    async def play() -> None:
        async with database(backend) as db:
            kind, clock, later = new_kind(), Clock(), Clock()
            later.now = clock.now + timedelta(seconds=61)
            started, cancelled = asyncio.Event(), asyncio.Event()
            slow_outcomes, fast_outcomes = Outcomes(), Outcomes()

            async def stalls(job: Job) -> None:
                started.set()
                try:
                    await asyncio.Event().wait()
                except asyncio.CancelledError:
                    cancelled.set()
                    raise

            async def finishes(job: Job) -> None:
                pass

            slow = runner(db, {kind: stalls}, clock, lease_seconds=60, observer=slow_outcomes)
            fast = runner(db, {kind: finishes}, later, lease_seconds=60, observer=fast_outcomes)
            await settled(slow)
            await settled(fast)
            await queue(db, kind, "contested", clock())
            stalled = asyncio.create_task(slow.run_once())
            await asyncio.wait_for(started.wait(), timeout=10)
            # The slow runner's process stalled past its lease: another one took the job over and ran it.
            assert await fast.run_once() == 1
            assert await slow.renew_leases() == 1
            await asyncio.wait_for(cancelled.wait(), timeout=10)
            assert await stalled == 1
            found = await state(db, kind, "contested")
            assert (found.status, found.job.attempts) == ("done", 2)
            assert [o for k, o in slow_outcomes.seen if k == kind] == ["lost"]
            assert [o for k, o in fast_outcomes.seen if k == kind] == ["done"]

    run(backend, play)


def test_renewing_keeps_a_long_job_from_being_taken_over(backend: str) -> None:
    async def play() -> None:
        async with database(backend) as db:
            kind, clock, other_clock = new_kind(), Clock(), Clock()
            started, go = asyncio.Event(), asyncio.Event()

            async def long_job(job: Job) -> None:
                started.set()
                await go.wait()

            holder = runner(db, {kind: long_job}, clock, lease_seconds=60)
            other = runner(db, {kind: long_job}, other_clock, lease_seconds=60)
            await settled(holder, other)
            await queue(db, kind, "long", clock())
            running = asyncio.create_task(holder.run_once())
            await asyncio.wait_for(started.wait(), timeout=10)
            for _ in range(3):
                clock.advance(40)
                other_clock.advance(40)
                assert await holder.renew_leases() == 0
                assert await other.run_once() == 0  # the lease holds
            go.set()
            assert await running == 1
            assert (await state(db, kind, "long")).status == "done"

    run(backend, play)


def test_closing_a_runner_hands_back_the_jobs_it_could_not_finish(backend: str) -> None:
    async def play() -> None:
        async with database(backend) as db:
            kind, clock, outcomes = new_kind(), Clock(), Outcomes()
            started = asyncio.Event()
            ran: list[int] = []

            async def stalls(job: Job) -> None:
                started.set()
                await asyncio.Event().wait()

            async def finishes(job: Job) -> None:
                ran.append(job.attempts)

            stopping = runner(db, {kind: stalls}, clock, observer=outcomes)
            await settled(stopping)
            await queue(db, kind, "unfinished", clock())
            running = asyncio.create_task(stopping.run_once())
            await asyncio.wait_for(started.wait(), timeout=10)
            await stopping.aclose(grace_seconds=0)
            assert await running == 1
            found = await state(db, kind, "unfinished")
            assert (found.status, found.job.attempts, found.lease_owner) == ("queued", 0, None)
            assert [o for k, o in outcomes.seen if k == kind] == ["released"]
            assert await stopping.run_once() == 0  # a closed runner claims nothing
            await runner(db, {kind: finishes}, clock).run_once()
            assert ran == [1]

    run(backend, play)
