"""`/chat`: create a chat turn (JSON or Vapi SSE), and get, list and delete chats."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from starlette.responses import Response, StreamingResponse

from chatloom.api.deps import (
    OrgId,
    Services,
    ServicesDep,
    json_body,
    json_request_body,
    json_response,
    key_id_of,
    parse_model,
)
from chatloom.api.errors import domain_error_response
from chatloom.api.openapi import TURN, WITH_ID, PathId, answers, sse_events
from chatloom.api.routes.listing import filtered_query, paginated
from chatloom.api.schemas.chat import ChatTurnFields, CreateChatIn, ListChatsParams
from chatloom.api.schemas.common import ChatMessageIn
from chatloom.api.schemas.records_out import Chat, ChatPaginatedResponse
from chatloom.api.sse import SSE_HEADERS, vapi_frames
from chatloom.domain.errors import InvalidRequest
from chatloom.domain.events import TurnCompleted, TurnEvent, TurnFailed
from chatloom.domain.messages import Message
from chatloom.engine.context import TurnRequest
from chatloom.engine.turn import PreparedTurn
from chatloom.store.chats import SORTABLE

router = APIRouter(tags=["Chats"])


def to_message(item: ChatMessageIn) -> Message:
    content = item.content
    if isinstance(content, list):
        content = "".join(part.text for part in content)
    message: Message = {"role": item.role, "content": content}
    if item.tool_calls:
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {
                    "name": call.function.name,
                    "arguments": call.function.arguments
                    if isinstance(call.function.arguments, str)
                    else orjson.dumps(call.function.arguments).decode(),
                },
            }
            for call in item.tool_calls
        ]
    if item.tool_call_id:
        message["tool_call_id"] = item.tool_call_id
    if item.name:
        message["name"] = item.name
    return message


def refuse_unsupported(body: ChatTurnFields) -> None:
    if body.transport is not None:
        raise InvalidRequest("transport: SMS transports are not supported by this server", field="transport")


def turn_request(
    org_id: str,
    body: ChatTurnFields,
    messages: list[Message],
    raw_input: Any,
    *,
    instructions: str | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    key_id: str | None = None,
) -> TurnRequest:
    """The engine's view of a `/chat` or `/chat/responses` body; the keyword arguments are the
    per-turn settings only `/chat/responses` has."""
    refuse_unsupported(body)
    return TurnRequest(
        org_id=org_id,
        input=messages,
        raw_input=raw_input,
        assistant_id=body.assistant_id,
        assistant=body.assistant.model_dump(by_alias=True, exclude_unset=True, mode="json")
        if body.assistant
        else None,
        assistant_overrides=body.assistant_overrides.model_dump(
            by_alias=True, exclude_unset=True, mode="json"
        )
        if body.assistant_overrides
        else None,
        previous_chat_id=body.previous_chat_id,
        session_id=body.session_id,
        name=body.name,
        instructions=instructions,
        temperature=temperature,
        max_tokens=max_tokens,
        squad_id=body.squad_id,
        squad=body.squad.model_dump(by_alias=True, exclude_unset=True, mode="json") if body.squad else None,
        key_id=key_id,
    )


@router.post(
    "/chat",
    operation_id="ChatController_createChat",
    openapi_extra=json_request_body("CreateChatIn"),
    responses=answers(
        200,
        Chat,
        "The stored chat; with `stream: true`, Vapi's server-sent events instead.",
        *TURN,
        stream=sse_events(
            "`data: {id, sessionId?, path, delta}` per text chunk, an error frame if the turn fails, "
            "then `data: [DONE]`.",
            "CreateChatStreamResponse",
            "ChatStreamError",
            done=True,
        ),
    ),
)
async def create_chat(request: Request, org_id: OrgId, services: ServicesDep) -> Response:
    body = parse_model(CreateChatIn, await json_body(request))
    if isinstance(body.input, str):
        messages: list[Message] = [{"role": "user", "content": body.input}]
        raw_input: Any = body.input
    else:
        messages = [to_message(item) for item in body.input]
        raw_input = messages
    turn = await services.engine.prepare(
        turn_request(org_id, body, messages, raw_input, key_id=key_id_of(request))
    )
    return await respond(
        services,
        turn,
        frames=vapi_frames if body.stream else None,
        completed=lambda done: json_response(done.chat),
        failed=domain_error_response,
    )


async def respond(
    services: Services,
    turn: PreparedTurn,
    frames: Callable[[AsyncIterator[TurnEvent]], AsyncIterator[bytes]] | None,
    completed: Callable[[TurnCompleted], Response],
    failed: Callable[[Exception], Response],
    after: Callable[[], Awaitable[None]] | None = None,
) -> Response:
    """Runs a prepared turn: framed as SSE when `frames` is given (the turn then runs in its own task, so
    a client that leaves does not cancel it), else drained into one JSON response. `after` runs once the
    turn completed, before the response (or the stream's end) is sent."""
    if frames is not None:
        run = services.engine.run(turn, stream=True)
        events = await services.in_flight.detach(run if after is None else _then(run, after))
        return StreamingResponse(frames(events), media_type="text/event-stream", headers=SSE_HEADERS)
    async with aclosing(services.engine.run(turn, stream=False)) as events:
        async for event in events:
            if isinstance(event, TurnCompleted):
                if after is not None:
                    await after()
                return completed(event)
            if isinstance(event, TurnFailed):
                return failed(event.error)
    raise RuntimeError("a turn ended without a result")


async def _then(
    events: AsyncIterator[TurnEvent], after: Callable[[], Awaitable[None]]
) -> AsyncIterator[TurnEvent]:
    completed = False
    async for event in events:
        completed = completed or isinstance(event, TurnCompleted)
        yield event
    if completed:
        await after()


@router.get(
    "/chat",
    operation_id="ChatController_listChats",
    responses=answers(200, ChatPaginatedResponse, "One page of the org's chats."),
)
async def list_chats(
    org_id: OrgId, services: ServicesDep, params: Annotated[ListChatsParams, Query()]
) -> Response:
    query = filtered_query(
        params,
        equal={
            "id": params.id,
            "assistant_id": params.assistant_id,
            "squad_id": params.squad_id,
            "session_id": params.session_id,
            "previous_chat_id": params.previous_chat_id,
        },
        any_of={"id": params.id_any, "assistant_id": params.assistant_id_any},
    )
    query.sort_by = SORTABLE[params.sort_by]
    return json_response(paginated(await services.chats.page(org_id, query), query))


@router.get(
    "/chat/{id}", operation_id="ChatController_getChat", responses=answers(200, Chat, "The chat.", *WITH_ID)
)
async def get_chat(chat_id: PathId, org_id: OrgId, services: ServicesDep) -> Response:
    return json_response(await services.chats.get(org_id, chat_id))


@router.delete(
    "/chat/{id}",
    operation_id="ChatController_deleteChat",
    responses=answers(200, Chat, "The deleted chat.", *WITH_ID),
)
async def delete_chat(chat_id: PathId, org_id: OrgId, services: ServicesDep) -> Response:
    return json_response(await services.chats.delete(org_id, chat_id))
