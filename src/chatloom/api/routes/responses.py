"""`POST /chat/responses`: the OpenAI Responses API over the same engine as `/chat`.

Only the framing differs: OpenAI input items in, a `Response` object or OpenAI stream events out,
errors in OpenAI's envelope. `stream` defaults to true (Vapi's spec).
"""

from __future__ import annotations

from typing import Any

import orjson
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
from chatloom.api.routes.chats import respond, to_message, turn_request
from chatloom.api.schemas.common import ChatMessageIn
from chatloom.api.schemas.responses import ResponsesRequestIn
from chatloom.api.schemas.responses_out import OpenAIResponse
from chatloom.api.turn_streams import Background
from chatloom.domain.errors import InvalidRequest
from chatloom.domain.messages import Message, ToolCall
from chatloom.relay.memory import TurnStream

router = APIRouter(tags=["Chats"])

ITEM_BOOKKEEPING = ("type", "id", "status")


def _text(value: Any, field: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list | dict):
        return orjson.dumps(value).decode()
    raise InvalidRequest(f"{field}: must be a string", field=field)


def response_input(items: str | list[dict[str, Any]]) -> list[Message]:
    """OpenAI input items as chat messages: messages, `function_call` and `function_call_output`."""
    if isinstance(items, str):
        return [{"role": "user", "content": items}]
    messages: list[Message] = []
    for index, item in enumerate(items):
        where = f"input[{index}]"
        if not isinstance(item, dict):
            raise InvalidRequest(f"{where}: must be an object", field=where)
        kind = item.get("type")
        if kind == "function_call_output":
            call_id = item.get("call_id")
            if not isinstance(call_id, str) or not call_id:
                raise InvalidRequest(f"{where}.call_id: is required", field=f"{where}.call_id")
            output = _text(item.get("output", ""), f"{where}.output")
            messages.append({"role": "tool", "tool_call_id": call_id, "content": output})
        elif kind == "function_call":
            call_id, name = item.get("call_id"), item.get("name")
            if not isinstance(call_id, str) or not isinstance(name, str) or not call_id or not name:
                raise InvalidRequest(f"{where}: a function_call needs call_id and name", field=where)
            call: ToolCall = {
                "id": call_id,
                "type": "function",
                "function": {
                    "name": name,
                    "arguments": _text(item.get("arguments", "{}"), f"{where}.arguments"),
                },
            }
            previous = messages[-1] if messages else None
            if previous is not None and previous["role"] == "assistant" and "tool_calls" in previous:
                previous["tool_calls"].append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind in (None, "message"):
            fields = {k: v for k, v in item.items() if k not in ITEM_BOOKKEEPING}
            messages.append(to_message(parse_model(ChatMessageIn, fields, prefix=where)))
        else:
            raise InvalidRequest(
                f"{where}.type: '{kind}' input items are not supported", field=f"{where}.type"
            )
    return messages


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
