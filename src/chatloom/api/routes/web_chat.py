"""`POST /chat/web` and `/chat/web/responses`: chat from a web page, with a public key (or a private one).

Every turn runs on a session (see `engine/web_chats.py`) whose id comes back in the body and in every
stream frame. A public key reaches only its allowed origins and assistants, is rate limited per client
address, sends at most `web_max_input_chars` of user and assistant messages, and overrides nothing but
`variableValues`; its `customer` finds a returning customer's session only when `customer.identityHash`
vouches for it. CORS for these routes is the app's middleware (every origin; refusals included).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from chatloom.api.deps import (
    Services,
    ServicesDep,
    json_body,
    json_request_body,
    json_response,
    parse_model,
    services_of,
    web_caller,
    web_refusal,
)
from chatloom.api.errors import domain_error_response
from chatloom.api.openapi import WEB_TURN, answers, sse_events
from chatloom.api.rate_limits import WebCaller, web_turn_caller
from chatloom.api.responses_wire import ResponseFraming, ResponseShape, completed_response
from chatloom.api.routes.chats import respond
from chatloom.api.schemas.records_out import WebChat
from chatloom.api.schemas.responses_out import OpenAIResponse
from chatloom.api.schemas.web_chat import CreateWebChatIn, WebChatFields, WebResponsesRequestIn
from chatloom.api.sse import vapi_frames
from chatloom.api.wire_input import response_input, vapi_input
from chatloom.domain.errors import InvalidRequest
from chatloom.domain.events import TurnCompleted
from chatloom.domain.messages import Message, text_of
from chatloom.engine.keys import KeyAccess
from chatloom.engine.turn import PreparedTurn
from chatloom.engine.web_chats import WebTurnRequest

router = APIRouter(tags=["Chats"])

PUBLIC_ROLES = ("user", "assistant")


def check_assistant(caller: KeyAccess, assistant_id: str) -> None:
    if caller.public and caller.assistant_ids is not None and assistant_id not in caller.assistant_ids:
        raise web_refusal(f"Assistant {assistant_id[:100]} is not allowed for this public key", caller)


def variable_values(overrides: dict[str, Any] | None, where: str) -> dict[str, Any] | None:
    """`assistantOverrides.variableValues`; any other override is refused (web chat runs the assistant
    as its owner configured it)."""
    if overrides is None:
        return None
    for name in overrides:
        if name != "variableValues":
            raise InvalidRequest(
                f"{where}.{name}: web chat can override only variableValues", field=f"{where}.{name}"
            )
    values = overrides.get("variableValues")
    if values is not None and not isinstance(values, dict):
        raise InvalidRequest(f"{where}.variableValues: must be an object", field=f"{where}.variableValues")
    return values


def customer_vouched(
    services: Services, caller: KeyAccess, customer: dict[str, Any] | None, signature: str | None
) -> bool:
    """Whether the customer may be used to find its sessions: always for a private key (the site's own
    server, which vouches by itself: an `identityHash` from it is a 400), for a public key only with a
    valid `identityHash` (else 403). Without one nothing is opened or read."""
    if not caller.public:
        if signature is not None:
            raise InvalidRequest(
                "customer.identityHash: only a public key's request is signed; a private key vouches for "
                "its customer by itself (leave the field out)",
                field="customer.identityHash",
            )
        return True
    if signature is None or customer is None:
        return False
    if not services.keys.identity_vouched(caller, customer, signature, services.credentials.box):
        raise web_refusal(
            "customer.identityHash does not match the customer: sign the customer's identifying field "
            "with this public key's identity secret",
            caller,
        )
    return True


def check_public_input(messages: list[Message], variables: dict[str, Any] | None, limit: int) -> None:
    """What a public key may send: user and assistant text only (a page must not write the assistant's
    instructions or tool results), at most `limit` characters in all, variables included."""
    for index, message in enumerate(messages):
        if message["role"] not in PUBLIC_ROLES or "tool_calls" in message:
            raise InvalidRequest(
                f"input[{index}].role: web chat with a public key takes only user and assistant text",
                field=f"input[{index}].role",
            )
    size = sum(len(text_of(message.get("content"))) for message in messages)
    if size > limit:
        raise InvalidRequest(
            f"input: at most {limit} characters per web chat turn ({size} sent)", field="input"
        )
    if variables and len(orjson.dumps(variables)) > limit:
        raise InvalidRequest(
            f"assistantOverrides.variableValues: at most {limit} characters of JSON",
            field="assistantOverrides.variableValues",
        )


async def prepare_web_turn(
    services: Services,
    caller: KeyAccess,
    body: WebChatFields,
    messages: list[Message],
    raw_input: Any,
    stream: bool = False,
) -> PreparedTurn:
    check_assistant(caller, body.assistant_id)
    values = variable_values(body.assistant_overrides, "assistantOverrides")
    customer = body.customer.model_dump(by_alias=True, exclude_none=True) if body.customer else None
    signature = None
    if customer is not None:
        signature = customer.pop("identityHash", None)  # never stored, never echoed
        extra = variable_values(customer.pop("assistantOverrides", None), "customer.assistantOverrides")
        values = {**(extra or {}), **(values or {})} or None
    if caller.public:
        check_public_input(messages, values, services.web_max_input_chars)
    vouched = customer_vouched(services, caller, customer, signature)
    expiration = body.session_expiration_seconds
    return await services.web_chats.prepare(
        WebTurnRequest(
            org_id=caller.org_id,
            key_id=caller.key_id,
            assistant_id=body.assistant_id,
            input=messages,
            raw_input=raw_input,
            session_id=body.session_id,
            customer=customer,
            customer_vouched=vouched,
            variable_values=values,
            expiration_seconds=int(expiration) if expiration is not None else None,
            stream=stream,
        )
    )


def ending(
    services: Services, body: WebChatFields, turn: PreparedTurn
) -> Callable[[], Awaitable[None]] | None:
    """With `sessionEnd`, the session is completed once this turn is answered."""
    session_id, org_id = turn.handle.session_id, turn.handle.org_id
    if not body.session_end or session_id is None:
        return None
    return lambda: services.web_chats.end_session(org_id, session_id)


@router.post(
    "/chat/web",
    operation_id="ChatController_createWebChat",
    openapi_extra=json_request_body("CreateWebChatIn"),
    responses=answers(
        200,
        WebChat,
        "The chat's id, session and output; with `stream: true`, Vapi's server-sent events instead.",
        *WEB_TURN,
        stream=sse_events(
            "`data: {id, sessionId?, path, delta}` per text chunk, an error frame if the turn fails, "
            "then `data: [DONE]`.",
            "CreateChatStreamResponse",
            "ChatStreamError",
            done=True,
        ),
    ),
)
async def create_web_chat(request: Request, caller: WebCaller, services: ServicesDep) -> Response:
    body = parse_model(CreateWebChatIn, await json_body(request))
    messages, raw_input = vapi_input(body.input)
    turn = await prepare_web_turn(services, caller, body, messages, raw_input, body.stream)
    session_id = turn.handle.session_id

    def web_chat(done: TurnCompleted) -> Response:
        return json_response({"id": done.chat["id"], "sessionId": session_id, "output": done.output})

    return await respond(
        services,
        turn,
        frames=vapi_frames if body.stream else None,
        completed=web_chat,
        failed=domain_error_response,
        after=ending(services, body, turn),
    )


@router.post(
    "/chat/web/responses",
    operation_id="ChatController_createOpenAIWebChat",
    openapi_extra=json_request_body("WebResponsesRequestIn"),
    responses=answers(
        200,
        OpenAIResponse,
        "An OpenAI `Response` with `sessionId` when `stream` is false; OpenAI stream events otherwise.",
        *WEB_TURN,
        openai=True,
        stream=sse_events(
            "OpenAI Responses events: `response.created`, ..., `response.output_text.delta`, ..., "
            "`response.completed`; or `error` and `response.failed`.",
            "ResponseStreamEvent",
            named=True,
        ),
    ),
)
async def create_web_response(request: Request, caller: WebCaller, services: ServicesDep) -> Response:
    body = parse_model(WebResponsesRequestIn, await json_body(request))
    messages = response_input(body.input)
    raw_input = body.input if isinstance(body.input, str) else messages
    turn = await prepare_web_turn(services, caller, body, messages, raw_input, body.stream)
    handle = turn.handle
    shape = ResponseShape(model=handle.model, session_id=handle.session_id)
    created_at = int(handle.started_at.timestamp())
    return await respond(
        services,
        turn,
        frames=(lambda: ResponseFraming(shape)) if body.stream else None,
        completed=lambda done: json_response(completed_response(done, shape, created_at)),
        failed=lambda error: domain_error_response(error, openai=True),
        after=ending(services, body, turn),
    )


async def web_caller_of(request: Request) -> KeyAccess:
    """What `WebCaller` resolves to, for the hot routes (api/hot_routes.py)."""
    return await web_turn_caller(request, await web_caller(request))


async def create_web_chat_directly(request: Request) -> Response:
    return await create_web_chat(request, await web_caller_of(request), services_of(request))


async def create_web_response_directly(request: Request) -> Response:
    return await create_web_response(request, await web_caller_of(request), services_of(request))
