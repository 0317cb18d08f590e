"""`POST /chat/web` and `/chat/web/responses`: chat from a web page, with a public key (or a private one).

Every turn runs on a session (see `engine/turn/web.py`) whose id comes back in the body and in every
stream frame. A public key reaches only its allowed origins and assistants, is rate limited per client
address, sends at most `web_max_input_chars` of user and assistant messages, and overrides nothing but
`variableValues`; its `customer` finds a returning customer's session only when `customer.identityHash`
vouches for it (`api/web_turn_input.py`). CORS for these routes is the app's middleware (every origin;
refusals included).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from chatloom.api import turn_endpoint
from chatloom.api.deps import ServicesDep, json_request_body
from chatloom.api.openapi import WEB_TURN, answers, sse_events
from chatloom.api.rate_limits import WebCaller
from chatloom.api.schemas.records_out import WebChat
from chatloom.api.schemas.responses_out import OpenAIResponse

router = APIRouter(tags=["Chats"])


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
    return await turn_endpoint.create_web_chat(request, caller, services)


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
    return await turn_endpoint.create_web_response(request, caller, services)
