"""The turn's "record" stage: what a finished turn produced, as Vapi's `Chat` document (the one place the
engine writes a chat's JSON), handed to the store (`TurnStore.record`) with the messages it adds to its
conversation and, on a session, how the session's document changes (costs, active assistant, expiry).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from chatloom.domain.messages import Message
from chatloom.engine.calls.costs import add_costs, cost_entry, knowledge_base_cost_entry
from chatloom.engine.context.summary import context_window
from chatloom.engine.records.leases import Lease
from chatloom.engine.squads.handoffs import HandoffState
from chatloom.engine.turn.loop import LoopState, followed_by
from chatloom.engine.turn.plan import TurnPlan
from chatloom.store.documents import Document
from chatloom.store.turns.record import SessionRevision, SessionTurn, TurnRecord

DEFAULT_SESSION_SECONDS = 86_400.0


class TurnStore(Protocol):
    """Where finished turns go (`store.turns.writer.TurnWriter`)."""

    async def record(self, record: TurnRecord) -> None: ...


def chat_document(plan: TurnPlan, state: LoopState) -> dict[str, Any]:
    """The turn's chat, as stored and returned (without its timestamps)."""
    context = plan.context
    request = context.request
    chat: dict[str, Any] = {"id": plan.chat_id, "orgId": request.org_id}
    if context.assistant_id is not None:
        chat["assistantId"] = context.assistant_id
    if context.inline_assistant is not None:
        chat["assistant"] = context.inline_assistant
    if state.speaker.overrides is not None:
        chat["assistantOverrides"] = state.speaker.overrides
    if request.name is not None:
        chat["name"] = request.name
    if request.metadata:
        chat["metadata"] = request.metadata
    if request.session_id is not None:
        chat["sessionId"] = request.session_id
    if request.previous_chat_id is not None:
        chat["previousChatId"] = request.previous_chat_id
    chat["input"] = request.raw_input
    chat["stream"] = request.stream
    chat["messages"] = followed_by(context.history, added_before_input(state), request.input)
    chat["output"] = state.output
    window = context_window(state.window, context.history)
    if window is not None:
        chat["contextWindow"] = window
    chat["costs"] = [
        *(cost_entry(call) for call in state.calls),
        *(knowledge_base_cost_entry(call) for call in state.knowledge_calls),
    ]
    chat["cost"] = sum(call.cost for call in state.billed())
    if state.handoff is not None:
        squad_fields(state.handoff, chat, len(state.output))
    return chat


def added_before_input(state: LoopState) -> list[Message]:
    """A summary this turn wrote: stored before its input."""
    return [state.window.summary] if state.window.summary is not None else []


def squad_fields(state: HandoffState, chat: dict[str, Any], length: int) -> None:
    """A squad chat names its squad, which assistant wrote each output message, and the assistant that
    answers the next turn."""
    if state.squad is not None:
        chat.pop("assistant", None)
        if state.squad.squad_id is not None:
            chat["squadId"] = state.squad.squad_id
        else:
            chat["squad"] = state.squad.inline
    chat["activeAssistant"] = state.agent.ref
    chat["outputAssistants"] = state.output_assistants(length)


def turn_record(
    plan: TurnPlan, lease: Lease | None, state: LoopState, chat: dict[str, Any], now: datetime
) -> TurnRecord:
    context = plan.context
    request = context.request
    added = [*added_before_input(state), *request.input, *state.output]
    session = None
    if request.session_id is not None and lease is not None:
        revise = session_revision(chat["costs"], chat.get("activeAssistant"))
        session = SessionTurn(request.session_id, lease.owner, lease.row, revise)
    return TurnRecord(
        org_id=request.org_id,
        chat_id=plan.chat_id,
        chat=chat,
        added=added,
        base=context.history_log,
        history=context.history,
        at=now,
        continues=request.previous_chat_id,
        session=session,
        conversation=request.conversation_id,
    )


def session_revision(
    costs: list[dict[str, Any]], active: dict[str, Any] | None
) -> Callable[[Document], SessionRevision]:
    """How a turn changes its session's document: its costs added (per model), its total, and for a
    squad's session the assistant that answers the next turn."""

    def revise(body: Document) -> SessionRevision:
        body["costs"] = add_costs(body.get("costs", []), costs)
        body["cost"] = body.get("cost", 0.0) + sum(entry["cost"] for entry in costs)
        if active is not None:
            body["activeAssistant"] = active
        seconds = float(body.get("expirationSeconds", DEFAULT_SESSION_SECONDS))
        return SessionRevision(body, body["cost"], seconds)

    return revise
