"""The job runner: claims due jobs from the database (`store/jobs.py`), runs each with its kind's handler,
renews their leases while they run, and records how each ended.

Any number of processes may run one against the same database: a job runs in one of them at a time, and a
job whose process died is taken over once its lease runs out. So a handler must be idempotent: its job may
run again after a run that did part (or all) of its work. No database connection is held while a handler
runs: every store call is its own short transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Literal, Protocol

from chatloom.domain.ids import new_id, utc_now
from chatloom.jobs.recurring import Recurring
from chatloom.observability.hooks import NO_OBSERVER, Observer
from chatloom.store import jobs as job_rows
from chatloom.store.db import Database
from chatloom.store.jobs import Job, PermanentJobError

log = logging.getLogger("chatloom.jobs")

PURGE_KIND = "jobs.purge"
PURGE_EVERY_SECONDS = 3600.0
PURGE_BATCH = 1000
PURGE_BATCHES_PER_RUN = 20
"""One purge run deletes at most this many batches; what is left waits for the next period."""
RENEWALS_PER_LEASE = 3
MAX_LOOP_PAUSE_SECONDS = 30.0
"""The longest the loop waits before claiming again after failing to reach the database."""
STOP_WAIT_SECONDS = 5.0
"""How long `aclose` waits for cancelled handlers to end after the grace period."""


Change = Literal["finish", "release", "retry", "fail"]


class JobHandler(Protocol):
    """Runs one job. Returning marks it done; raising retries it later (with backoff) until it has had its
    attempts, then fails it; raising `PermanentJobError` fails it at once. It may run again after a run
    that did part or all of its work (its process died, or lost its lease): it must be idempotent."""

    def __call__(self, job: Job) -> Awaitable[None]: ...


class JobRunner:
    """Runs the jobs of the kinds it has handlers for, at most `concurrency` at once.

    A claimed job is leased for `lease_seconds` and renewed every third of that while its handler runs
    (at most `timeout_seconds`). A failed run is retried after `base_backoff_seconds`, doubling per
    attempt up to `max_backoff_seconds` (jittered), until the job has had `max_attempts` runs. `recurring`
    duties are queued once per period; the purge of jobs finished `keep_finished_seconds` ago is one of
    them. `clock` is the time it leases and schedules by (tests move it)."""

    def __init__(
        self,
        db: Database,
        handlers: Mapping[str, JobHandler],
        *,
        owner: str | None = None,
        concurrency: int = 4,
        lease_seconds: float = 60.0,
        poll_seconds: float = 1.0,
        max_attempts: int = 5,
        base_backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 300.0,
        timeout_seconds: float = 900.0,
        keep_finished_seconds: float = 86_400.0,
        recurring: Sequence[Recurring] = (),
        observer: Observer | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if concurrency < 1 or max_attempts < 1:
            raise ValueError("a job runner needs a concurrency and max_attempts of at least 1")
        if min(lease_seconds, poll_seconds, timeout_seconds) <= 0:
            raise ValueError("a job runner's lease, poll and timeout seconds must be positive")
        self.db = db
        self.owner = owner or new_id()
        """This runner's lease token: the jobs it holds carry it as their `lease_owner`."""
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.max_attempts = max_attempts
        self.base_backoff_seconds = base_backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.timeout_seconds = timeout_seconds
        self.recurring = (*recurring, Recurring(PURGE_KIND, PURGE_EVERY_SECONDS))
        # A finished recurring job is kept at least one period, so its row still stops a process that
        # starts later in that period from queueing it again.
        longest = max(duty.every_seconds for duty in self.recurring)
        self.keep_finished_seconds = max(keep_finished_seconds, longest)
        self._handlers: dict[str, JobHandler] = {**handlers, PURGE_KIND: self._purge}
        missing = [duty.kind for duty in self.recurring if duty.kind not in self._handlers]
        if missing:
            raise ValueError(f"recurring jobs without a handler: {', '.join(missing)}")
        self._kinds = sorted(self._handlers)
        self._observer = observer or NO_OBSERVER
        self._clock = clock
        self._running: dict[str, asyncio.Task[None]] = {}
        self._claiming = 0
        """Slots reserved by claims in flight (so two claims never take more than the free slots)."""
        self._stopping: dict[str, str] = {}
        """Why a running job's handler was cancelled: "lost" (its lease) or "released" (shutdown)."""
        self._queued_periods: dict[str, datetime] = {}
        self._wake = asyncio.Event()
        self._saturated = False
        self._closing = False
        self._tasks: list[asyncio.Task[None]] = []

    # -- driving it --

    async def start(self) -> None:
        """Starts claiming in the background (every `poll_seconds`, or at once after `wake`) and renewing
        the leases of running jobs."""
        if self._tasks or self._closing:
            return
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._claim_loop()), loop.create_task(self._renew_loop())]

    def wake(self) -> None:
        """A job was just queued (and committed) by this process: claim now rather than at the next poll."""
        self._wake.set()

    async def run_once(self) -> int:
        """Queues the recurring jobs due, claims what is due (up to the free slots), runs it and waits for
        it; returns how many jobs ran. Errors reaching the database are raised."""
        await self._queue_recurring()
        started = await self._claim_and_start()
        if started:
            await asyncio.wait(started)
        return len(started)

    async def aclose(self, grace_seconds: float) -> None:
        """Stops claiming, lets running jobs finish for up to `grace_seconds`, then cancels the rest and
        hands their jobs back (queued again, due at once, for this or another process)."""
        self._closing = True
        self._wake.set()
        claim_loop = self._tasks[0] if self._tasks else None
        if claim_loop is not None:
            # Woken, the loop ends after the claim it may be making (cancelled mid-claim, jobs it had just
            # taken would wait for their lease to run out).
            _, busy = await asyncio.wait({claim_loop}, timeout=STOP_WAIT_SECONDS)
            if busy:
                claim_loop.cancel()
                await asyncio.wait(busy)
        running = set(self._running.values())
        if running:
            _, unfinished = await asyncio.wait(running, timeout=max(0.0, grace_seconds))
            for job_id, task in list(self._running.items()):
                if task in unfinished:
                    self._stopping[job_id] = "released"
                    task.cancel()
            if unfinished:
                _, stuck = await asyncio.wait(unfinished, timeout=STOP_WAIT_SECONDS)
                if stuck:
                    log.warning(
                        "%d job handlers did not stop; their jobs run again after their lease", len(stuck)
                    )
        for task in self._tasks[1:]:
            task.cancel()
            await asyncio.wait({task})
        self._tasks = []

    @property
    def running(self) -> int:
        """How many jobs this runner is running now."""
        return len(self._running)

    async def renew_leases(self) -> int:
        """Renews the lease of every job running here (one short statement each); a job whose lease was
        lost (taken over after this process stalled) has its handler cancelled. Returns how many were lost.
        The runner calls it every third of `lease_seconds` once started."""
        lost = 0
        until = self._clock() + timedelta(seconds=self.lease_seconds)
        for job_id, task in list(self._running.items()):
            if job_id in self._stopping:
                continue
            try:
                async with self.db.single_statement() as conn:
                    held = await job_rows.renew(conn, job_id, self.owner, until)
            except Exception as error:  # the next renewal tries again; the lease may still hold
                log.warning("renewing the lease of job %s failed: %s", job_id, type(error).__name__)
                continue
            if not held and job_id in self._running:
                lost += 1
                log.warning("job %s: lost its lease (taken over by another process); cancelled here", job_id)
                self._stopping[job_id] = "lost"
                task.cancel()
        return lost

    # -- claiming --

    async def _claim_loop(self) -> None:
        failures = 0
        while not self._closing:
            self._wake.clear()
            try:
                await self._queue_recurring()
                await self._claim_and_start()
                failures = 0
            except Exception as error:
                failures += 1
                log.warning("claiming jobs failed (%s); trying again", type(error).__name__)
            # After failures (the database unreachable) the pause doubles, up to MAX_LOOP_PAUSE_SECONDS.
            pause = self.poll_seconds * 2 ** min(failures, 16)
            if failures:
                pause = min(pause, max(self.poll_seconds, MAX_LOOP_PAUSE_SECONDS))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), pause)

    async def _renew_loop(self) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / RENEWALS_PER_LEASE)
            try:
                await self.renew_leases()
            except Exception as error:
                log.warning("renewing job leases failed: %s", type(error).__name__)

    async def _queue_recurring(self) -> None:
        now = self._clock()
        for duty in self.recurring:
            start = duty.period_start(now)
            if self._queued_periods.get(duty.kind) == start:
                continue
            async with self.db.one_statement() as conn:
                await job_rows.enqueue(
                    conn, kind=duty.kind, key=duty.key(start), payload={}, org_id=None, now=now
                )
            self._queued_periods[duty.kind] = start

    async def _claim_and_start(self) -> set[asyncio.Task[None]]:
        free = self.concurrency - len(self._running) - self._claiming
        if free <= 0 or self._closing:
            return set()
        self._claiming += free
        try:
            now = self._clock()
            until = now + timedelta(seconds=self.lease_seconds)
            async with self.db.read() as conn:
                if not await job_rows.any_due(conn, now, self._kinds):
                    self._saturated = False
                    return set()
            async with self.db.write() as conn:
                claimed = await job_rows.claim(conn, self.owner, now, until, free, self._kinds)
        finally:
            self._claiming -= free
        self._saturated = len(claimed) == free
        started = set()
        for job in claimed:
            task = asyncio.get_running_loop().create_task(self._run(job), name=f"job {job.kind} {job.id}")
            self._running[job.id] = task
            started.add(task)
        return started

    # -- running one job --

    async def _run(self, job: Job) -> None:
        started = time.perf_counter()
        try:
            outcome = await self._outcome(job)
        finally:
            self._running.pop(job.id, None)
            self._stopping.pop(job.id, None)
            if self._saturated and not self._closing:
                self._wake.set()  # more may be due than there were free slots
        self._observer.job_finished(job.kind, outcome, time.perf_counter() - started)

    async def _outcome(self, job: Job) -> str:
        if job.attempts > self.max_attempts:
            # Every attempt ended with its process dying (or stalling past its lease): give up on it.
            interrupted = "its runs were interrupted (process stopped or stalled) on every attempt"
            return await self._give_up(job, interrupted)
        try:
            async with asyncio.timeout(self.timeout_seconds):
                await self._handlers[job.kind](job)
        except asyncio.CancelledError:
            reason = self._stopping.get(job.id)
            if reason is None:
                raise
            if reason == "released":
                return "released" if await self._record(job, "release", None) else "lost"
            return "lost"
        except PermanentJobError as error:
            return await self._give_up(job, _describe(error))
        except Exception as error:
            if job.attempts >= self.max_attempts:
                return await self._give_up(job, _describe(error))
            return await self._retry(job, _describe(error))
        if self._stopping.get(job.id) == "lost":
            return "lost"
        return "done" if await self._record(job, "finish", None) else "lost"

    async def _retry(self, job: Job, error: str) -> str:
        delay = self._backoff(job.attempts)
        log.info(
            "job %s (%s) failed on attempt %d of %d, runs again in %.1f s: %s",
            job.id,
            job.kind,
            job.attempts,
            self.max_attempts,
            delay,
            error,
        )
        return "retried" if await self._record(job, "retry", error, delay) else "lost"

    async def _give_up(self, job: Job, error: str) -> str:
        log.warning("job %s (%s) failed after %d attempts: %s", job.id, job.kind, job.attempts, error)
        return "failed" if await self._record(job, "fail", error) else "lost"

    def _backoff(self, attempts: int) -> float:
        """Exponential from `base_backoff_seconds`, capped, with jitter (half to all of it)."""
        delay = min(self.max_backoff_seconds, self.base_backoff_seconds * 2.0 ** min(attempts - 1, 30))
        return float(delay * (0.5 + random.random() / 2))

    async def _record(self, job: Job, change: Change, error: str | None, delay: float = 0.0) -> bool:
        """Writes how the run ended, if this runner still holds the job; False when it does not (or the
        write failed: the job then runs again once its lease runs out)."""
        now = self._clock()
        try:
            async with self.db.one_statement() as conn:
                if change == "finish":
                    return await job_rows.finish(conn, job.id, self.owner, now)
                if change == "release":
                    return await job_rows.release(conn, job.id, self.owner, now)
                if change == "retry":
                    run_after = now + timedelta(seconds=delay)
                    return await job_rows.retry(conn, job.id, self.owner, now, run_after, error or "")
                return await job_rows.fail(conn, job.id, self.owner, now, error or "")
        except Exception as failure:
            log.warning("job %s (%s): recording its end failed: %s", job.id, job.kind, type(failure).__name__)
            return False

    # -- the built-in duty --

    async def _purge(self, job: Job) -> None:
        """Deletes done and failed jobs older than `keep_finished_seconds`, in bounded batches."""
        before = self._clock() - timedelta(seconds=self.keep_finished_seconds)
        for _ in range(PURGE_BATCHES_PER_RUN):
            async with self.db.one_statement() as conn:
                deleted = await job_rows.purge(conn, before, PURGE_BATCH)
            if deleted < PURGE_BATCH:
                return


def _describe(error: BaseException) -> str:
    """An error as logged and stored: its class and the first line of its message, bounded."""
    return job_rows.bounded_error(f"{type(error).__name__}: {error}")
