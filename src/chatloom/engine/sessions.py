"""Sessions: server-side conversations tied to one assistant, and the lease that serializes their turns.

A session's prompt is rendered once, at creation (its `variableValues` and `customer` are fixed then),
and kept. A session expires `expirationSeconds` after its last activity: creation, a completed turn, or
a PATCH that reopens it (`status: "active"`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from chatloom.domain.errors import NotFound, SessionBusy, SessionClosed
from chatloom.domain.ids import iso, new_id, utc_now
from chatloom.engine.context import render_system_messages
from chatloom.engine.server_messages import ServerMessages
from chatloom.store import assistants, sessions
from chatloom.store.db import Database
from chatloom.store.documents import Document, ListQuery, Page

DEFAULT_EXPIRATION_SECONDS = 86_400
RENEWALS_PER_LEASE = 3

log = logging.getLogger("chatloom.sessions")


def _expires(now: datetime, document: Document) -> datetime:
    return now + timedelta(seconds=float(document.get("expirationSeconds", DEFAULT_EXPIRATION_SECONDS)))


def _not_found(session_id: str) -> NotFound:
    return NotFound(f"Session {session_id} not found")


class SessionRecords:
    def __init__(self, db: Database, server_messages: ServerMessages) -> None:
        self.db = db
        self.server_messages = server_messages

    async def _notify(self, kind: str, org_id: str, session: Document) -> None:
        await self.server_messages.about(kind, org_id, session, {"session": session})

    async def create(
        self, org_id: str, fields: dict[str, Any], findable_by_customer: bool = True
    ) -> Document:
        """Stores a new session; `fields` are validated API fields. The prompt is rendered now.
        `findable_by_customer` False: its customer is recorded but finds it not (nobody vouched)."""
        doc_id, now = new_id(), utc_now()
        document: Document = {"status": "active", "expirationSeconds": DEFAULT_EXPIRATION_SECONDS, **fields}
        document.setdefault("messages", [])
        document.update(cost=0.0, costs=[])
        assistant = document.get("assistant")
        if document.get("assistantId") is not None:
            async with self.db.read() as conn:
                assistant = await assistants.get(conn, org_id, document["assistantId"])
            if assistant is None:
                raise NotFound(f"Assistant {document['assistantId']} not found")
        model = (assistant or {}).get("model") or {}
        overrides = dict(document.get("assistantOverrides") or {})
        values = dict(overrides.get("variableValues") or {})
        if "customer" in document and "customer" not in values:
            values["customer"] = document["customer"]
        overrides["variableValues"] = values
        # Rendered before the write transaction: a slow template never holds the database's write lock.
        prompt = await render_system_messages(model, overrides, now)
        status = document["status"]
        expires_at = _expires(now, document)
        async with self.db.write() as conn:
            await sessions.insert(
                conn, org_id, doc_id, document, prompt, now, expires_at, findable_by_customer
            )
        session = {
            "id": doc_id,
            "orgId": org_id,
            **document,
            "status": status,
            "createdAt": iso(now),
            "updatedAt": iso(now),
        }
        self.server_messages.send(
            "session.created", assistant, session.get("assistantOverrides"), {"session": session}
        )
        return session

    async def get(self, org_id: str, session_id: str) -> Document:
        async with self.db.read() as conn:
            document = await sessions.get(conn, self.db.messages, org_id, session_id, utc_now())
        if document is None:
            raise _not_found(session_id)
        return document

    async def update(self, org_id: str, session_id: str, changes: dict[str, Any]) -> Document:
        now = utc_now()
        async with self.db.write() as conn:
            found = await sessions.get_for_update(conn, self.db.messages, org_id, session_id, now)
            if found is None:
                raise _not_found(session_id)
            document = found.document
            expires_at = self._new_expiry(document, found.expires_at, changes, now)
            document.update(changes)
            await sessions.replace(
                conn,
                self.db.messages,
                org_id,
                found,
                dict(document),
                now,
                expires_at,
                new_messages="messages" in changes,
            )
        document["updatedAt"] = iso(now)
        document["status"] = sessions.effective_status(document["status"], expires_at, now)
        await self._notify("session.updated", org_id, document)
        return document

    @staticmethod
    def _new_expiry(
        document: Document, current: datetime, changes: dict[str, Any], now: datetime
    ) -> datetime:
        """Reopening restarts the clock; a new `expirationSeconds` moves the end, from the last activity."""
        if changes.get("status") == "active" and document["status"] == "completed":
            return _expires(now, {**document, **changes})
        if "expirationSeconds" in changes:
            old = float(document.get("expirationSeconds", DEFAULT_EXPIRATION_SECONDS))
            return current + timedelta(seconds=float(changes["expirationSeconds"]) - old)
        return current

    async def delete(self, org_id: str, session_id: str) -> Document:
        async with self.db.write() as conn:
            document = await sessions.delete(conn, self.db.messages, org_id, session_id, utc_now())
        if document is None:
            raise _not_found(session_id)
        await self._notify("session.deleted", org_id, document)
        return document

    async def list(self, org_id: str, query: ListQuery) -> Page:
        async with self.db.read() as conn:
            return await sessions.list_(conn, self.db.messages, org_id, query, utc_now())


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

    async def acquire(self, org_id: str, session_id: str) -> tuple[str, Any]:
        """Takes the session's lease; returns its owner token and the session's row as the lease took it.
        Refuses closed or missing sessions."""
        owner = new_id()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_seconds
        pause = 0.01
        while True:
            now = utc_now()
            until = now + timedelta(seconds=self.lease_seconds)
            state, row = await sessions.try_lease(self.db, org_id, session_id, owner, now, until)
            if row is not None:
                return owner, row
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
            await sessions.release_lease(conn, org_id, session_id, owner)
        self.released(session_id)

    def keep(self, org_id: str, session_id: str, owner: str) -> LeaseRenewal:
        """Starts renewing a held lease every third of `lease_seconds`; `stop()` it when the turn ends."""
        return LeaseRenewal(self, org_id, session_id, owner)

    async def renew(self, org_id: str, session_id: str, owner: str) -> bool:
        """One short UPDATE guarded by the owner token; False when the lease was lost."""
        until = utc_now() + timedelta(seconds=self.lease_seconds)
        async with self.db.single_statement() as conn:
            return await sessions.renew_lease(conn, org_id, session_id, owner, until)


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
