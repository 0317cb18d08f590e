"""Web chat turns: every turn runs on a session, found or made here, for one named assistant.

A given `sessionId` is continued when it is active, of the caller's org and of the same assistant;
otherwise the customer's latest active session with that assistant is, when the caller vouches for the
customer; otherwise a new session is created (firing `session.created`). Ending a session completes it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from chatloom.domain.errors import NotFound, SessionClosed
from chatloom.domain.ids import utc_now
from chatloom.domain.messages import Message
from chatloom.engine.records.sessions import SessionRecords
from chatloom.engine.turn.engine import ChatEngine, PreparedTurn
from chatloom.engine.turn.request import TurnRequest
from chatloom.store import sessions
from chatloom.store.db import Database


@dataclass(slots=True)
class WebTurnRequest:
    org_id: str
    assistant_id: str
    input: list[Message]
    raw_input: Any
    session_id: str | None = None
    customer: dict[str, Any] | None = None
    customer_vouched: bool = False
    """The caller vouches for `customer` (a private key, or a valid `identityHash`): it may find, and be
    found in, the customer's sessions. Else it is only recorded on the new session."""
    variable_values: dict[str, Any] | None = None
    expiration_seconds: int | None = None
    key_id: str | None = None
    stream: bool = False


class WebChats:
    def __init__(self, db: Database, engine: ChatEngine, sessions: SessionRecords) -> None:
        self.db = db
        self.engine = engine
        self.sessions = sessions

    async def prepare(self, request: WebTurnRequest) -> PreparedTurn:
        """The turn, prepared on its session (with the session's lease held)."""
        if request.session_id is not None:
            turn = await self._continue(request, request.session_id)
            if turn is not None:
                return turn
        key = sessions.customer_key(request.customer)
        if key is not None and request.customer_vouched:
            async with self.db.read() as conn:
                found = await sessions.latest_for_customer(
                    conn, request.org_id, request.assistant_id, key, utc_now()
                )
            if found is not None:
                turn = await self._continue(request, found)
                if turn is not None:
                    return turn
        # A customer nobody vouched for is recorded, but never finds this session later: else a page
        # claiming someone's identity would start the session that person's next vouched turn continues.
        session = await self.sessions.create(
            request.org_id, self._new_session(request), findable_by_customer=request.customer_vouched
        )
        return await self.engine.prepare(self._turn(request, str(session["id"])))

    async def end_session(self, org_id: str, session_id: str) -> None:
        """Completes the session (`session.updated` fires); one deleted meanwhile is left alone."""
        with contextlib.suppress(NotFound):
            await self.sessions.update(org_id, session_id, {"status": "completed"})

    @staticmethod
    def _turn(request: WebTurnRequest, session_id: str) -> TurnRequest:
        return TurnRequest(
            org_id=request.org_id,
            input=request.input,
            raw_input=request.raw_input,
            session_id=session_id,
            key_id=request.key_id,
            stream=request.stream,
        )

    @staticmethod
    def _new_session(request: WebTurnRequest) -> dict[str, Any]:
        fields: dict[str, Any] = {"assistantId": request.assistant_id}
        if request.variable_values:
            fields["assistantOverrides"] = {"variableValues": request.variable_values}
        if request.customer:
            fields["customer"] = request.customer
        if request.expiration_seconds is not None:
            fields["expirationSeconds"] = request.expiration_seconds
        return fields

    async def _continue(self, request: WebTurnRequest, session_id: str) -> PreparedTurn | None:
        """The turn on this session, or None when the session cannot take it (missing, another org's,
        closed, or another assistant's: a key restricted to one assistant must not reach another)."""
        try:
            turn = await self.engine.prepare(self._turn(request, session_id))
        except (NotFound, SessionClosed):
            return None
        if turn.plan.context.assistant_id != request.assistant_id:
            if turn.lease is not None:
                await self.engine.leases.release(request.org_id, session_id, turn.lease.owner)
            return None
        return turn
