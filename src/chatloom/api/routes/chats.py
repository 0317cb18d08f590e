"""`/chat`: create a chat turn (JSON or Vapi SSE), and get, list and delete chats."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from starlette.responses import Response

from chatloom.api import turn_endpoint
from chatloom.api.deps import OrgId, ServicesDep, json_request_body, json_response
from chatloom.api.openapi import TURN, WITH_ID, PathId, answers, sse_events
from chatloom.api.routes.listing import filtered_query, paginated
from chatloom.api.schemas.chat import ListChatsParams
from chatloom.api.schemas.records_out import Chat, ChatAccepted, ChatPaginatedResponse
from chatloom.api.turn_streams import sse_response
from chatloom.api.wire_numbers import parse_int
from chatloom.relay.memory import TERMINAL
from chatloom.store.chats import SORTABLE
from chatloom.store.documents import Page

router = APIRouter(tags=["Chats"])

MAX_FRAME_ID = 2**31 - 1


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
    return await turn_endpoint.create_chat(request, org_id, services)


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
