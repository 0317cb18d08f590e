"""The turn endpoint behind `POST /chat`, `/chat/responses`, `/chat/web` and `/chat/web/responses`: reads the
body, has the engine prepare the turn, and answers it as JSON, as a stream (through the relay) or in the
background, in Vapi's or OpenAI's framing. The routes only declare it; it sees a prepared turn only
through `turn.handle`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from chatloom.api.accept import wants_stream
from chatloom.api.deps import Services, json_body, json_response, key_id_of, parse_model
from chatloom.api.errors import domain_error_response
from chatloom.api.response_echo import echoed
from chatloom.api.responses_wire import (
    ResponseFraming,
    ResponseShape,
    completed_response,
    in_flight_response,
)
from chatloom.api.schemas.chat import ChatTurnFields, CreateChatIn
from chatloom.api.schemas.responses import ResponsesRequestIn
from chatloom.api.schemas.web_chat import CreateWebChatIn, WebChatFields, WebResponsesRequestIn
from chatloom.api.sse import vapi_frames
from chatloom.api.turn_streams import Background, StreamFraming, following, start_streamed
from chatloom.api.web_turn_input import web_turn_request
from chatloom.api.wire_input import inline_only, response_input, response_raw_input, vapi_input
from chatloom.domain.errors import InvalidRequest, PreviousChatNotFound
from chatloom.domain.events import TurnCompleted, TurnEvent, TurnFailed
from chatloom.domain.messages import Message
from chatloom.domain.model_options import NO_OPTIONS, ModelOptions
from chatloom.engine.access.keys import KeyAccess
from chatloom.engine.turn.engine import PreparedTurn
from chatloom.engine.turn.request import TurnHandle, TurnRequest
from chatloom.relay.memory import TurnStream


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
    truncation: str | None = None,
    key_id: str | None = None,
    stream: bool = False,
    conversation_id: str | None = None,
    options: ModelOptions = NO_OPTIONS,
    caller_tools: tuple[dict[str, Any], ...] = (),
    store: bool = True,
    metadata: dict[str, str] | None = None,
    model: str | None = None,
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
        truncation=truncation,
        squad_id=body.squad_id,
        squad=body.squad.model_dump(by_alias=True, exclude_unset=True, mode="json") if body.squad else None,
        key_id=key_id,
        stream=stream,
        conversation_id=conversation_id,
        options=options,
        caller_tools=caller_tools,
        store=store,
        metadata=metadata,
        model=model,
    )


async def create_chat(request: Request, org_id: str, services: Services) -> Response:
    """`POST /chat`: a Vapi turn, answered with the stored chat, Vapi frames or (background) its id."""
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


def accepted_chat(stream: TurnStream) -> Response:
    """The answer to a background `/chat`: the turn's id and status (its chat is stored when it ends)."""
    info = stream.info
    document: dict[str, Any] = {"id": info.turn_id, "orgId": info.org_id, "status": info.status}
    return json_response(document, status_code=202)


async def create_response(request: Request, org_id: str, services: Services) -> Response:
    """`POST /chat/responses`: the same turn in OpenAI's framing (input items in, a `Response` or its
    stream events out, errors in OpenAI's envelope). Without `stream`, the request's `Accept` decides
    (`api/accept.py`); with no assistant named, `model` answers directly."""
    body = parse_model(ResponsesRequestIn, await json_body(request))
    stream = body.stream if body.stream is not None else wants_stream(request.headers.get("accept"))
    refuse_unstored(body)
    messages = response_input(body.input)
    if not body.names_assistant and body.model is None:
        raise InvalidRequest(
            "model: required when no assistant is named (assistantId, assistant, squadId, squad, "
            "sessionId or previous_response_id)",
            field="model",
        )
    turn = await prepare_response(
        services,
        body,
        turn_request(
            org_id,
            body,
            messages,
            response_raw_input(body.input, messages),
            instructions=body.instructions,
            temperature=body.temperature,
            max_tokens=body.max_output_tokens,
            truncation=body.truncation,
            key_id=key_id_of(request),
            stream=stream,
            conversation_id=body.conversation_id,
            options=body.options(),
            caller_tools=tuple(tool.as_vapi_tool() for tool in body.tools or ()),
            store=body.store,
            metadata=dict(body.metadata) if body.metadata else None,
            model=None if body.names_assistant else body.model,
        ),
    )
    handle = turn.handle
    shape = ResponseShape(
        model=handle.model,
        instructions=body.instructions,
        previous_response_id=body.previous_chat_id,
        max_output_tokens=body.max_output_tokens,
        temperature=body.temperature,
        metadata=dict(body.metadata or {}),
        truncation=handle.truncation,
        background=body.background,
        echo=echoed(body),
    )
    created_at = int(handle.started_at.timestamp())
    framing = lambda: ResponseFraming(shape)  # noqa: E731
    return await respond(
        services,
        turn,
        frames=framing if stream else None,
        completed=lambda done: json_response(completed_response(done, shape, created_at)),
        failed=lambda error: domain_error_response(error, openai=True),
        background=Background(framing, accepted_response) if body.background else None,
        keep=body.store,
    )


async def prepare_response(
    services: Services, body: ResponsesRequestIn, turn_request: TurnRequest
) -> PreparedTurn:
    """As OpenAI does, a `previous_response_id` that names no stored response is a 400 naming it (a
    response stored with `store: false` is not kept, so it is never found either)."""
    try:
        return await services.engine.prepare(turn_request)
    except PreviousChatNotFound as error:
        if body.previous_response_id is None:
            raise
        raise InvalidRequest(
            f"previous_response_id: no stored response '{body.previous_response_id}' (a response made "
            "with store false is not kept)",
            field="previous_response_id",
        ) from error


def refuse_unstored(body: ResponsesRequestIn) -> None:
    """`store: false` keeps nothing, so nothing can come back for it later: a 400 naming `store` with
    what needs the turn kept."""
    if body.store:
        return
    if body.background:
        raise InvalidRequest("store: a background response is fetched later, so it must be stored", "store")
    if body.session_id is not None:
        raise InvalidRequest("store: a session keeps every turn, so store false cannot apply", "store")
    if body.conversation is not None:
        raise InvalidRequest("store: a conversation keeps its turns, so store false cannot apply", "store")


def accepted_response(stream: TurnStream) -> Response:
    return json_response(in_flight_response(stream.info))


async def create_web_chat(request: Request, caller: KeyAccess, services: Services) -> Response:
    """`POST /chat/web`: a Vapi turn on a web session, answered with the chat's id, session and output."""
    body = parse_model(CreateWebChatIn, await json_body(request))
    messages, raw_input = vapi_input(body.input)
    inline_only(messages)
    turn = await services.web_chats.prepare(
        web_turn_request(services, caller, body, messages, raw_input, body.stream)
    )
    handle = turn.handle
    session_id = handle.session_id

    def web_chat(done: TurnCompleted) -> Response:
        return json_response({"id": done.chat["id"], "sessionId": session_id, "output": done.output})

    return await respond(
        services,
        turn,
        frames=vapi_frames if body.stream else None,
        completed=web_chat,
        failed=domain_error_response,
        after=ending(services, body, handle),
    )


async def create_web_response(request: Request, caller: KeyAccess, services: Services) -> Response:
    """`POST /chat/web/responses`: a web session's turn in OpenAI's framing, with `sessionId`."""
    body = parse_model(WebResponsesRequestIn, await json_body(request))
    stream = body.stream if body.stream is not None else wants_stream(request.headers.get("accept"))
    messages = response_input(body.input)
    inline_only(messages)
    raw_input = response_raw_input(body.input, messages)
    turn = await services.web_chats.prepare(
        web_turn_request(services, caller, body, messages, raw_input, stream)
    )
    handle = turn.handle
    shape = ResponseShape(model=handle.model, session_id=handle.session_id)
    created_at = int(handle.started_at.timestamp())
    return await respond(
        services,
        turn,
        frames=(lambda: ResponseFraming(shape)) if stream else None,
        completed=lambda done: json_response(completed_response(done, shape, created_at)),
        failed=lambda error: domain_error_response(error, openai=True),
        after=ending(services, body, handle),
    )


def ending(
    services: Services, body: WebChatFields, handle: TurnHandle
) -> Callable[[], Awaitable[None]] | None:
    """With `sessionEnd`, the session is completed once this turn is answered."""
    session_id, org_id = handle.session_id, handle.org_id
    if not body.session_end or session_id is None:
        return None
    return lambda: services.web_chats.end_session(org_id, session_id)


async def respond(
    services: Services,
    turn: PreparedTurn,
    frames: Callable[[], StreamFraming] | None,
    completed: Callable[[TurnCompleted], Response],
    failed: Callable[[Exception], Response],
    background: Background | None = None,
    after: Callable[[], Awaitable[None]] | None = None,
    keep: bool = True,
) -> Response:
    """Runs a prepared turn: streamed as SSE when `frames` is given, in the background when `background`
    is (both: a background turn the client follows), else drained into one JSON response. Streamed and
    background turns run in their own task, so a client that leaves does not cancel them, and their
    events go through the relay, so a client can resume them (`GET /chat/{id}/stream`), unless `keep` is
    false (`store: false`). `after` runs once the turn completed, before the response (or the stream's
    end) is sent."""
    make_framing = frames or (background.framing if background is not None else None)
    if make_framing is not None:
        run = services.engine.run(turn, stream=True)
        events = run if after is None else _then(run, after)
        stream = await start_streamed(
            services, turn, make_framing(), events, background=background is not None, keep=keep
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
