"""`/chat`: create a chat turn (JSON or Vapi SSE), and get, list and delete chats."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from starlette.responses import Response

from chatloom.api.deps import (
    OrgId,
    Services,
    ServicesDep,
    caller_org,
    json_body,
    json_request_body,
    json_response,
    key_id_of,
    parse_model,
    services_of,
)
from chatloom.api.errors import domain_error_response
from chatloom.api.openapi import TURN, WITH_ID, PathId, answers, sse_events
from chatloom.api.routes.listing import filtered_query, paginated
from chatloom.api.schemas.chat import ChatTurnFields, CreateChatIn, ListChatsParams
from chatloom.api.schemas.records_out import Chat, ChatAccepted, ChatPaginatedResponse
from chatloom.api.sse import vapi_frames
from chatloom.api.turn_streams import Background, StreamFraming, following, sse_response, start_streamed
from chatloom.api.wire_input import vapi_input
from chatloom.api.wire_numbers import parse_int
from chatloom.domain.errors import InvalidRequest
from chatloom.domain.events import TurnCompleted, TurnEvent, TurnFailed
from chatloom.domain.messages import Message
from chatloom.engine.context import TurnRequest
from chatloom.engine.turn import PreparedTurn
from chatloom.relay.memory import TERMINAL, TurnStream
from chatloom.store.chats import SORTABLE
from chatloom.store.documents import Page

router = APIRouter(tags=["Chats"])

MAX_FRAME_ID = 2**31 - 1


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
    stream: bool = False,
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
        stream=stream,
    )


@router.post(
    "/chat",
    operation_id="ChatController_createChat",
    openapi_extra=json_request_body("CreateChatIn"),
    responses={
        **answers(
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
        202: {
            "model": ChatAccepted,
            "description": "With `background: true` (and no `stream`): the turn's id and status at once.",
        },
    },
)
async def create_chat(request: Request, org_id: OrgId, services: ServicesDep) -> Response:
    body = parse_model(CreateChatIn, await json_body(request))
    messages, raw_input = vapi_input(body.input)
    turn = await services.engine.prepare(
        turn_request(org_id, body, messages, raw_input, key_id=key_id_of(request), stream=body.stream)
    )
    return await respond(
        services,
        turn,
        frames=vapi_frames if body.stream else None,
        completed=lambda done: json_response(done.chat),
        failed=domain_error_response,
        background=Background(vapi_frames, accepted_chat) if body.background else None,
    )


async def create_chat_directly(request: Request) -> Response:
    """`create_chat` with its dependencies resolved in line (api/hot_routes.py)."""
    return await create_chat(request, await caller_org(request), services_of(request))


def accepted_chat(stream: TurnStream) -> Response:
    """The answer to a background `/chat`: the turn's id and status (its chat is stored when it ends)."""
    info = stream.info
    document: dict[str, Any] = {"id": info.turn_id, "orgId": info.org_id, "status": info.status}
    return json_response(document, status_code=202)


async def respond(
    services: Services,
    turn: PreparedTurn,
    frames: Callable[[], StreamFraming] | None,
    completed: Callable[[TurnCompleted], Response],
    failed: Callable[[Exception], Response],
    background: Background | None = None,
    after: Callable[[], Awaitable[None]] | None = None,
) -> Response:
    """Runs a prepared turn: streamed as SSE when `frames` is given, in the background when `background`
    is (both: a background turn the client follows), else drained into one JSON response. Streamed and
    background turns run in their own task, so a client that leaves does not cancel them, and their
    events go through the relay, so a client can resume them (`GET /chat/{id}/stream`). `after` runs
    once the turn completed, before the response (or the stream's end) is sent."""
    make_framing = frames or (background.framing if background is not None else None)
    if make_framing is not None:
        run = services.engine.run(turn, stream=True)
        events = run if after is None else _then(run, after)
        stream = await start_streamed(
            services, turn, make_framing(), events, background=background is not None
        )
        if frames is None and background is not None:
            return background.accepted(stream)
        return following(services, stream)
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
    if params.workflow_id:  # no chat belongs to a workflow here
        return json_response(paginated(Page([], 0), query))
    return json_response(paginated(await services.chats.page(org_id, query), query))


@router.get(
    "/chat/{id}", operation_id="ChatController_getChat", responses=answers(200, Chat, "The chat.", *WITH_ID)
)
async def get_chat(chat_id: PathId, org_id: OrgId, services: ServicesDep) -> Response:
    return json_response(await services.chats.get(org_id, chat_id))


@router.get(
    "/chat/{id}/stream",
    operation_id="ChatController_streamChat",
    responses={
        **answers(
            200,
            Chat,
            "The turn's Vapi frames after `Last-Event-ID`, then the live rest; the stored chat (JSON) when "
            "its frames are no longer kept.",
            *WITH_ID,
            stream=sse_events(
                "`id: N` and `data: {id, sessionId?, path, delta}` per text chunk, then `data: [DONE]`.",
                "CreateChatStreamResponse",
                "ChatStreamError",
                done=True,
            ),
        ),
        204: {"description": "The turn has ended and the client has seen every frame."},
    },
)
async def stream_chat(
    chat_id: PathId,
    org_id: OrgId,
    services: ServicesDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> Response:
    """Resumes a streamed `/chat` turn (what a browser's `EventSource` does on reconnect). A turn whose
    frames are no longer kept answers with its stored chat as JSON; an unknown id is a 404."""
    after = -1
    if last_event_id is not None and last_event_id.strip():
        after = parse_int(last_event_id, "Last-Event-ID", 0, MAX_FRAME_ID)
    info = await services.relay.info(org_id, chat_id)
    if info is None or info.kind != "chat":
        return json_response(await services.chats.get(org_id, chat_id))
    if info.status in TERMINAL and after >= info.last_seq:
        return Response(status_code=204)
    frames = await services.relay.follow(org_id, chat_id, after)
    if frames is None:
        return json_response(await services.chats.get(org_id, chat_id))
    return sse_response(frames)


@router.delete(
    "/chat/{id}",
    operation_id="ChatController_deleteChat",
    responses=answers(200, Chat, "The deleted chat.", *WITH_ID),
)
async def delete_chat(chat_id: PathId, org_id: OrgId, services: ServicesDep) -> Response:
    deleted = await services.chats.delete(org_id, chat_id)
    await services.relay.forget(org_id, chat_id)
    return json_response(deleted)
