"""Builds a turn's context: which assistant answers, the history it sees, and its rendered prompt.

All lookups happen here, in one short read transaction, before any model is called. Another org's
ids are simply not found. A session's history is read only once its turn lease is held.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from chatloom.domain.encoded_messages import EncodedMessages
from chatloom.domain.errors import InvalidRequest, NotFound
from chatloom.domain.messages import INSTRUCTION_ROLES, Message
from chatloom.engine.assistant_cache import AssistantCache
from chatloom.engine.squads import Agent, Squad, find_agent, load_squad, merged_overrides
from chatloom.engine.templates import check_template_limits, default_variables, render_prompt_async
from chatloom.store import assistants, chats, sessions
from chatloom.store import tools as tools_store
from chatloom.store.db import Database


@dataclass(slots=True)
class TurnRequest:
    """One chat turn as the engine sees it, whatever API framed it."""

    org_id: str
    input: list[Message]
    raw_input: Any
    assistant_id: str | None = None
    assistant: dict[str, Any] | None = None
    assistant_overrides: dict[str, Any] | None = None
    previous_chat_id: str | None = None
    session_id: str | None = None
    name: str | None = None
    instructions: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    truncation: str | None = None
    """OpenAI's `truncation` ("auto" | "disabled"), overriding `model.contextManagement.strategy`."""
    squad_id: str | None = None
    squad: dict[str, Any] | None = None
    key_id: str | None = None
    """The caller's API key: its usage limits apply besides its org's."""
    stream: bool = False
    """Whether the client asked for the turn as a stream (`Chat.stream`)."""


@dataclass(slots=True)
class TurnContext:
    request: TurnRequest
    assistant_id: str | None
    inline_assistant: dict[str, Any] | None
    assistant_overrides: dict[str, Any] | None
    assistant: dict[str, Any]
    model: dict[str, Any]
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


def _model_of(assistant: dict[str, Any]) -> dict[str, Any]:
    model = assistant.get("model")
    if not isinstance(model, dict):
        raise InvalidRequest("the assistant has no model; set assistant.model", field="assistant.model")
    return model


async def render_system_messages(
    model: dict[str, Any], overrides: dict[str, Any] | None, now: datetime
) -> list[Message]:
    """The assistant's `model.messages`, with Liquid rendered in system and developer messages."""
    prompt_messages = model.get("messages") or []
    if not prompt_messages:
        return []
    values = (overrides or {}).get("variableValues") or {}
    variables = {**default_variables(now, values.get("customer")), **values}
    rendered: list[Message] = []
    for index, message in enumerate(prompt_messages):
        content = message.get("content")
        if message.get("role") in INSTRUCTION_ROLES and isinstance(content, str):
            content = await render_prompt_async(
                content, variables, f"assistant.model.messages[{index}].content"
            )
        rendered.append({"role": message["role"], "content": content})
    return rendered


async def check_prompt_templates(model: dict[str, Any] | None, now: datetime) -> None:
    """Refuses, when an assistant is saved, a prompt template that exceeds the render limits with Vapi's
    default variables (a 400 naming `model.messages[i].content`)."""
    if not isinstance(model, dict):
        return
    variables = default_variables(now)
    for index, message in enumerate(model.get("messages") or []):
        content = message.get("content") if isinstance(message, dict) else None
        if message.get("role") in INSTRUCTION_ROLES and isinstance(content, str):
            await check_template_limits(content, variables, f"model.messages[{index}].content")


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
        if request.previous_chat_id is not None:
            previous_chat = await chats.read_continued(db, conn, request.org_id, request.previous_chat_id)
            if previous_chat is None:
                raise NotFound(f"Chat {request.previous_chat_id} (previousChatId) not found")
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
            stored = cache.get(request.org_id, assistant_id)
            if stored is None:
                stored = await assistants.get(await conn(), request.org_id, assistant_id)
                if stored is None:
                    raise NotFound(f"Assistant {assistant_id} not found")
                cache.put(request.org_id, assistant_id, stored)
            assistant = stored
        elif inline is not None:
            assistant = inline
        else:
            raise InvalidRequest(
                "the chat has no assistant: give assistantId or assistant", field="assistantId"
            )
        model = _model_of(assistant)
        tools = await resolve_tools(await conn(), request.org_id, model) if model.get("toolIds") else []
        tools = [*(tool for tool in model.get("tools") or [] if isinstance(tool, dict)), *tools]
        if agent is not None and agent.destinations:
            tools.append({"type": "handoff", "destinations": agent.destinations})
    check_tool_results(history, request.input)
    prompt = (
        session_prompt if session_prompt is not None else await render_system_messages(model, overrides, now)
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


async def resolve_tools(conn: AsyncConnection, org_id: str, model: dict[str, Any]) -> list[dict[str, Any]]:
    """The caller's stored tools named by `model.toolIds`, in that order (all must exist)."""
    tool_ids = [str(tool_id) for tool_id in model.get("toolIds") or []]
    found = {tool["id"]: tool for tool in await tools_store.get_many(conn, org_id, tool_ids)}
    missing = [tool_id for tool_id in tool_ids if tool_id not in found]
    if missing:
        raise InvalidRequest(f"model.toolIds: tool {missing[0]} not found", field="model.toolIds")
    return [found[tool_id] for tool_id in tool_ids]


def check_tool_results(history: list[Message], new_input: list[Message]) -> None:
    """Each tool message in the input must answer a call that is still open (a client-side tool call of
    the conversation, or one in the input itself), once."""
    if not any(message["role"] == "tool" for message in new_input):
        return  # nothing to check, and a long history is not walked on every turn
    open_calls: set[str] = set()
    for message in history:
        _track(open_calls, message)
    for index, message in enumerate(new_input):
        if message["role"] == "tool":
            call_id = message.get("tool_call_id", "")
            if call_id not in open_calls:
                where = f"input[{index}].tool_call_id"
                raise InvalidRequest(
                    f"{where}: '{call_id}' answers no pending tool call of this conversation", field=where
                )
        _track(open_calls, message)


def _track(open_calls: set[str], message: Message) -> None:
    if message["role"] == "assistant":
        open_calls.update(call["id"] for call in message.get("tool_calls", []))
    elif message["role"] == "tool":
        open_calls.discard(message.get("tool_call_id", ""))
