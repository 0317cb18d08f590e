"""The turn's "read" stage: the conversation it continues (a session, a chat, a Conversations API
conversation, or none), which assistant answers (stored, inline, or a squad's active member), the history
it sees, its tools and its rendered prompt, as one frozen `TurnContext`.

All lookups happen here, on at most one connection opened only when something must be read, before any
model is called. Another org's ids are simply not found. A session's history is read only once its turn
lease is held.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from chatloom.domain.encoded_messages import EncodedMessages
from chatloom.domain.errors import InvalidRequest, NotFound, PreviousChatNotFound
from chatloom.domain.messages import Message
from chatloom.engine.assistants.cache import AssistantCache
from chatloom.engine.assistants.prompts import render_system_messages
from chatloom.engine.assistants.views import ModelView
from chatloom.engine.calls.toolbox import resolve_tools
from chatloom.engine.context.history import check_tool_results
from chatloom.engine.records.conversations import history_of
from chatloom.engine.squads.members import Agent, Squad, find_agent, load_squad, merged_overrides
from chatloom.engine.turn.request import TurnRequest
from chatloom.store import assistants, chats, sessions
from chatloom.store.db import Database


@dataclass(frozen=True, slots=True)
class TurnContext:
    request: TurnRequest
    assistant_id: str | None
    inline_assistant: dict[str, Any] | None
    assistant_overrides: dict[str, Any] | None
    assistant: dict[str, Any]
    model: ModelView
    history: list[Message]
    history_log: tuple[str | None, int]
    """Where `history` is stored: the first `length` messages of a log (None while there are none, or
    for a chat stored before message logs whose messages could not be moved)."""
    prompt: list[Message]
    tools: list[dict[str, Any]]
    """The assistant's tools: inline `model.tools`, then the stored tools named by `model.toolIds`."""
    squad: Squad | None = None
    agent: Agent | None = None
    """The answering assistant of a squad, or of a conversation an earlier hand-off moved to another one."""


async def build_context(
    db: Database, request: TurnRequest, now: datetime, cache: AssistantCache, session_row: Any = None
) -> TurnContext:
    """Everything the turn reads. On a session, `session_row` is the session as the turn's lease took it
    (`SessionLeases.acquire`)."""
    assistant_id = request.assistant_id
    inline = request.assistant
    overrides = request.assistant_overrides
    history: list[Message] = []
    history_log: tuple[str | None, int] = (None, 0)
    session_prompt: list[Message] | None = None
    squad_id, squad_document = request.squad_id, request.squad
    active: dict[str, Any] | None = None
    view: ModelView | None = None
    async with AsyncExitStack() as stack:
        connection: AsyncConnection | None = None

        async def conn() -> AsyncConnection:
            # Opened only when something must be read: a cached assistant alone needs no connection.
            nonlocal connection
            if connection is None:
                connection = await stack.enter_async_context(db.read())
            return connection

        if request.session_id is not None:
            if session_row is None:
                raise RuntimeError("a session's turn reads its session only once it holds its lease")
            state = await sessions.read_for_turn(conn, db.messages, session_row, now)
            if state is None:
                raise NotFound(f"Session {request.session_id} not found")
            messages = state.document.get("messages", [])
            history = messages if isinstance(messages, EncodedMessages) else list(messages)
            history_log = state.log
            assistant_id = state.document.get("assistantId")
            inline = state.document.get("assistant")
            overrides = state.document.get("assistantOverrides")
            session_prompt = state.prompt
            squad_id, squad_document = state.document.get("squadId"), state.document.get("squad")
            active = state.document.get("activeAssistant")
        if request.conversation_id is not None:
            found = await history_of(await conn(), db.messages, request.org_id, request.conversation_id)
            if found is None:
                raise NotFound(f"conversation: Conversation {request.conversation_id} not found")
            history, history_log = found
        if request.previous_chat_id is not None:
            previous_chat = await chats.read_continued(db, conn, request.org_id, request.previous_chat_id)
            if previous_chat is None:
                raise PreviousChatNotFound(f"Chat {request.previous_chat_id} (previousChatId) not found")
            previous = previous_chat.document
            history = previous_chat.conversation or [
                *previous.get("messages", []),
                *previous.get("output", []),
            ]
            place = previous_chat.place
            history_log = (place.log_id, place.output_end) if place is not None else (None, len(history))
            if assistant_id is None and inline is None and squad_id is None and squad_document is None:
                assistant_id = previous.get("assistantId")
                inline = previous.get("assistant")
                squad_id, squad_document = previous.get("squadId"), previous.get("squad")
                active = previous.get("activeAssistant")
                if overrides is None:
                    overrides = previous.get("assistantOverrides")
        squad: Squad | None = None
        agent: Agent | None = None
        if squad_id is not None or squad_document is not None or isinstance(active, dict):
            # A squad's chat, or one a hand-off moved: the active assistant answers (first: member 0).
            if squad_id is not None or squad_document is not None:
                squad = await load_squad(await conn(), request.org_id, squad_id, squad_document)
            agent = await find_agent(await conn(), request.org_id, squad, active) if active else None
            if agent is None and squad is not None:
                agent = squad.members[0]
            if agent is None:
                raise NotFound("the assistant this conversation was handed off to no longer exists")
            session_prompt = None
            assistant = agent.assistant
            overrides = merged_overrides(agent.overrides, overrides)
        elif assistant_id is not None:
            cached = cache.get(request.org_id, assistant_id)
            if cached is None:
                stored = await assistants.get(await conn(), request.org_id, assistant_id)
                if stored is None:
                    raise NotFound(f"Assistant {assistant_id} not found")
                cached = stored, cache.put(request.org_id, assistant_id, stored)
            assistant, view = cached
        elif inline is not None:
            assistant = inline
        else:
            raise InvalidRequest(
                "the chat has no assistant: give assistantId or assistant", field="assistantId"
            )
        model = view if view is not None else ModelView.of(assistant)
        tools = [
            *model.tools,
            *(await resolve_tools(await conn(), request.org_id, model) if model.tool_ids else []),
        ]
        if agent is not None and agent.destinations:
            tools.append({"type": "handoff", "destinations": agent.destinations})
    check_tool_results(history, request.input)
    prompt = (
        session_prompt
        if session_prompt is not None
        else await render_system_messages(model.raw, overrides, now)
    )
    if request.instructions:
        prompt.append({"role": "system", "content": request.instructions})
    return TurnContext(
        request=request,
        assistant_id=assistant_id,
        inline_assistant=inline if assistant_id is None else None,
        assistant_overrides=overrides,
        assistant=assistant,
        model=model,
        history=history,
        history_log=history_log,
        prompt=prompt,
        tools=tools,
        squad=squad,
        agent=agent,
    )
