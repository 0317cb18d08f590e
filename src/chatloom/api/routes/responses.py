"""`POST /chat/responses`: the OpenAI Responses API over the same engine as `/chat`.

Only the framing differs: OpenAI input items in, a `Response` object or OpenAI stream events out,
errors in OpenAI's envelope. `stream` defaults to true (Vapi's spec).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from chatloom.api.deps import (
    OrgId,
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
from chatloom.api.openapi import TURN, answers, sse_events
from chatloom.api.responses_wire import (
    ResponseFraming,
    ResponseShape,
    completed_response,
    in_flight_response,
)
from chatloom.api.routes.chats import respond, turn_request
from chatloom.api.schemas.responses import ResponsesRequestIn
from chatloom.api.schemas.responses_out import OpenAIResponse
from chatloom.api.turn_streams import Background
from chatloom.api.wire_input import response_input
from chatloom.relay.memory import TurnStream

router = APIRouter(tags=["Chats"])


@router.post(
    "/chat/responses",
    operation_id="ChatController_createOpenAIChat",
    openapi_extra=json_request_body("ResponsesRequestIn"),
    responses=answers(
        200,
        OpenAIResponse,
        "An OpenAI `Response` when `stream` is false; OpenAI Responses stream events otherwise "
        "(`stream` defaults to true).",
        *TURN,
        429,
        openai=True,
        stream=sse_events(
            "OpenAI Responses events: `response.created`, ..., `response.output_text.delta`, ..., "
            "`response.completed`; or `error` and `response.failed`.",
            "ResponseStreamEvent",
            named=True,
        ),
    ),
)
async def create_response(request: Request, org_id: OrgId, services: ServicesDep) -> Response:
    body = parse_model(ResponsesRequestIn, await json_body(request))
    messages = response_input(body.input)
    request_for_turn = turn_request(
        org_id,
        body,
        messages,
        body.input if isinstance(body.input, str) else messages,
        instructions=body.instructions,
        temperature=body.temperature,
        max_tokens=body.max_output_tokens,
        key_id=key_id_of(request),
        stream=body.stream,
    )
    request_for_turn.truncation = body.truncation
    turn = await services.engine.prepare(request_for_turn)
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
    )
    created_at = int(handle.started_at.timestamp())
    framing = lambda: ResponseFraming(shape)  # noqa: E731
    return await respond(
        services,
        turn,
        frames=framing if body.stream else None,
        completed=lambda done: json_response(completed_response(done, shape, created_at)),
        failed=lambda error: domain_error_response(error, openai=True),
        background=Background(framing, accepted_response) if body.background else None,
    )


def accepted_response(stream: TurnStream) -> Response:
    return json_response(in_flight_response(stream.info))


async def create_response_directly(request: Request) -> Response:
    """`create_response` with its dependencies resolved in line (api/hot_routes.py)."""
    return await create_response(request, await caller_org(request), services_of(request))
