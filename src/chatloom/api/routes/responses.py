"""`POST /chat/responses`: the OpenAI Responses API over the same turn as `/chat` (`api/turn_endpoint.py`).

Only the framing differs: OpenAI input items in, a `Response` object or OpenAI stream events out,
errors in OpenAI's envelope. `stream` defaults to true (Vapi's spec).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from chatloom.api import turn_endpoint
from chatloom.api.deps import OrgId, ServicesDep, json_request_body
from chatloom.api.openapi import TURN, answers, sse_events
from chatloom.api.schemas.responses_out import OpenAIResponse

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
    return await turn_endpoint.create_response(request, org_id, services)
