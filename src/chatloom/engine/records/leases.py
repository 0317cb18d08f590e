"""Session leases: the hold that serializes turns on a session across processes, taken, renewed while a turn
runs, and released; no DB connection is held while a turn waits for one."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from chatloom.domain.errors import NotFound, SessionBusy, SessionClosed
from chatloom.domain.ids import new_id, utc_now
from chatloom.store import leases as lease_rows
from chatloom.store.db import Database

log = logging.getLogger("chatloom.sessions")


def _not_found(session_id: str) -> NotFound:
    return NotFound(f"Session {session_id} not found")


RENEWALS_PER_LEASE = 3


@dataclass(frozen=True, slots=True)
class Lease:
    """A turn's hold on its session: its owner token, and the session's row as the lease found it (the
    turn reads nothing else of the session, and its write checks that nothing changed it since)."""

    owner: str
    row: Any


@dataclass(slots=True)
class SessionLeases:
    """Serializes turns on a session across processes, holding no DB connection while waiting.

    Waiters in this process are woken as soon as a lease is released here; leases released by other
    processes are noticed by polling (every 10 ms, backing off to 100 ms). A running turn keeps its
    lease with `keep()`, so a lease outlives its holder by at most `lease_seconds`.
    """

    db: Database
    lease_seconds: float
    wait_seconds: float
    _released: dict[str, asyncio.Event] = field(default_factory=dict)

    async def acquire(self, org_id: str, session_id: str) -> Lease:
        """Takes the session's lease: its owner token and the session's row as the lease took it. Refuses
        closed or missing sessions."""
        owner = new_id()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_seconds
        pause = 0.01
        while True:
            now = utc_now()
            until = now + timedelta(seconds=self.lease_seconds)
            state, row = await lease_rows.try_lease(self.db, org_id, session_id, owner, now, until)
            if row is not None:
                return Lease(owner, row)
            if state == "missing":
                raise _not_found(session_id)
            if state == "completed":
                raise SessionClosed(f"Session {session_id} is completed and accepts no more chats")
            if state == "expired":
                raise SessionClosed(f"Session {session_id} has expired and accepts no more chats")
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise SessionBusy(f"Session {session_id} is busy with another chat; try again")
            event = self._released.setdefault(session_id, asyncio.Event())
            try:
                await asyncio.wait_for(event.wait(), timeout=min(pause, remaining))
            except TimeoutError:
                pause = min(pause * 2, 0.1)

    def released(self, session_id: str) -> None:
        """Wakes this process's waiters for the session (call after the releasing commit)."""
        event = self._released.pop(session_id, None)
        if event is not None:
            event.set()

    async def release(self, org_id: str, session_id: str, owner: str) -> None:
        async with self.db.single_statement() as conn:
            await lease_rows.release_lease(conn, org_id, session_id, owner)
        self.released(session_id)

    def keep(self, org_id: str, session_id: str, owner: str) -> LeaseRenewal:
        """Starts renewing a held lease every third of `lease_seconds`; `stop()` it when the turn ends."""
        return LeaseRenewal(self, org_id, session_id, owner)

    async def renew(self, org_id: str, session_id: str, owner: str) -> bool:
        """One short UPDATE guarded by the owner token; False when the lease was lost."""
        until = utc_now() + timedelta(seconds=self.lease_seconds)
        async with self.db.single_statement() as conn:
            return await lease_rows.renew_lease(conn, org_id, session_id, owner, until)


class LeaseRenewal:
    """Renews one turn's lease while the turn runs. The first renewal comes one interval after the
    start, so a turn shorter than that costs a timer and no statement. A renewal that finds the lease
    taken stops renewing; the turn's final write then refuses to store it (see `append_turn`). A
    renewal that fails (database unreachable) is retried at the next interval."""

    def __init__(self, leases: SessionLeases, org_id: str, session_id: str, owner: str) -> None:
        self._leases = leases
        self._key = (org_id, session_id, owner)
        self._interval = leases.lease_seconds / RENEWALS_PER_LEASE
        self._task: asyncio.Task[None] | None = None
        self._renewing = False
        self._stopped = False
        self.lost = False
        self._timer = asyncio.get_running_loop().call_later(self._interval, self._start)

    def _start(self) -> None:
        if not self._stopped:
            self._task = asyncio.get_running_loop().create_task(self._renew_until_stopped())

    async def _renew_until_stopped(self) -> None:
        org_id, session_id, owner = self._key
        while not self._stopped:
            self._renewing = True
            try:
                held = await self._leases.renew(org_id, session_id, owner)
            except Exception as error:
                log.warning("renewing the lease on session %s failed: %r", session_id, error)
                held = True
            finally:
                self._renewing = False
            if not held:
                self.lost = True
                if not self._stopped:
                    log.warning("session %s: lost this turn's lease (taken over, or deleted)", session_id)
                return
            await asyncio.sleep(self._interval)

    async def stop(self) -> None:
        """Ends the renewals. A renewal already in flight finishes first (it changes nothing once the
        turn released its lease); a sleeping one is cancelled."""
        self._stopped = True
        self._timer.cancel()
        task = self._task
        if task is None or task.done():
            return
        if not self._renewing:
            task.cancel()
        # wait() neither raises the task's cancellation here nor passes our own on to the task.
        await asyncio.wait({task})
