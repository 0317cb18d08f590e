"""Sessions: server-side conversations tied to one assistant, and the lease that serializes their turns.

A session's prompt is rendered once, at creation (its `variableValues` and `customer` are fixed then),
and kept. A session expires `expirationSeconds` after its last activity: creation, a completed turn, or
a PATCH that reopens it (`status: "active"`). Completing a session (PATCH, creating it completed, web chat's
`sessionEnd`, or expiry: `expire_due`) queues the extraction of its artifact in the same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from chatloom.domain.errors import InvalidRequest, NotFound
from chatloom.domain.ids import iso, new_id, utc_now
from chatloom.engine.assistants.prompts import render_system_messages
from chatloom.engine.notify.server_messages import ServerMessages
from chatloom.store import assistants, jobs, sessions
from chatloom.store.db import Database
from chatloom.store.documents import Document, ListQuery, Page

DEFAULT_EXPIRATION_SECONDS = 86_400

log = logging.getLogger("chatloom.sessions")


def _expires(now: datetime, document: Document) -> datetime:
    return now + timedelta(seconds=float(document.get("expirationSeconds", DEFAULT_EXPIRATION_SECONDS)))


def _not_found(session_id: str) -> NotFound:
    return NotFound(f"Session {session_id} not found")


ARTIFACT_JOB = "session.artifact"
"""The background job that extracts a completed session's artifact (`engine/artifacts`)."""


async def queue_artifact(conn: AsyncConnection, org_id: str, session_id: str, now: datetime) -> None:
    """Records, in the caller's transaction, that the session completed and its artifact is due: one row,
    keyed by the session and the moment, so one completion is extracted once."""
    await jobs.enqueue(
        conn,
        kind=ARTIFACT_JOB,
        key=f"{session_id}@{iso(now)}",
        payload={"sessionId": session_id},
        org_id=org_id,
        now=now,
    )


RUN_JOB = "session.structured-output"
"""The background job that runs one structured output on a session (`POST /structured-output/run`)."""


class SessionRecords:
    def __init__(self, db: Database, server_messages: ServerMessages) -> None:
        self.db = db
        self.server_messages = server_messages
        self.job_queued: Callable[[], None] = lambda: None
        """Called after a commit that queued a job (the job runner wires its `wake` here)."""

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
            if status == "completed":
                await queue_artifact(conn, org_id, doc_id, now)
        if status == "completed":
            self.job_queued()
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
            # Completed by this PATCH, as the row goes from active to completed: asked to, or expired and
            # not yet marked so by the expiry sweep (which then leaves it alone).
            ends = changes.get("status", document["status"]) == "completed"
            completes = ends and found.row_status != "completed"
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
            if completes:
                await queue_artifact(conn, org_id, session_id, now)
        if completes:
            self.job_queued()
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

    async def expire_due(self, limit: int = 500) -> int:
        """Completes sessions whose time ran out and queues their artifacts (a recurring job); returns how
        many. Bounded per run, and each run is one short transaction."""
        now = utc_now()
        async with self.db.write() as conn:
            expired = await sessions.expire_due(conn, now, limit)
            for org_id, session_id in expired:
                await queue_artifact(conn, org_id, session_id, now)
        if expired:
            self.job_queued()
        return len(expired)

    async def queue_runs(self, org_id: str, session_ids: Sequence[str], output: dict[str, Any]) -> None:
        """Queues one structured output's run on each session (`output`: `structuredOutputId` or an inline
        `structuredOutput`); a 400 naming the first id that is not one of the org's sessions."""
        now = utc_now()
        async with self.db.write() as conn:
            found = await sessions.existing(conn, org_id, session_ids)
            for index, session_id in enumerate(session_ids):
                if session_id not in found:
                    field = f"sessionIds[{index}]"
                    raise InvalidRequest(f"{field}: session {session_id} not found", field=field)
            for session_id in session_ids:
                await jobs.enqueue(
                    conn,
                    kind=RUN_JOB,
                    key=f"{session_id}@{new_id()}",
                    payload={"sessionId": session_id, **output},
                    org_id=org_id,
                    now=now,
                )
        self.job_queued()
