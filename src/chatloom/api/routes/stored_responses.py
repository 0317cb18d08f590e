"""The Responses routes for a response that exists: retrieve (as JSON, or its stream resumed after
`starting_after`), cancel, delete and list its input items, as the OpenAI SDK calls them.

A turn's events are kept while it runs and for the retention period after; once they are gone the stored
chat answers (a stream then carries just `response.completed`); an unknown id is a 404.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from chatloom.api.deps import OrgId, Services, ServicesDep, json_response
from chatloom.api.item_pages import PageQuery
from chatloom.api.openapi import PathId, answers, sse_events
from chatloom.api.responses_wire import in_flight_response, input_items, stored_response
from chatloom.api.schemas.responses_out import DeletedResponse, InputItemList, OpenAIResponse
from chatloom.api.turn_streams import sse_response
from chatloom.api.wire_numbers import parse_int
from chatloom.domain.errors import InvalidRequest, NotFound
from chatloom.relay.memory import TERMINAL

router = APIRouter(tags=["Chats"])


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    return parse_int(raw, name, low, high)


def _bool_param(request: Request, name: str) -> bool:
    raw = (request.query_params.get(name) or "false").lower()
    if raw not in ("true", "false", "1", "0"):
        raise InvalidRequest(f"{name}: must be true or false", field=name)
    return raw in ("true", "1")


async def current_response(services: Services, org_id: str, response_id: str) -> dict[str, Any]:
    """The kept `Response` when this process knows it, else the stored chat's; only for a turn not
    stored (yet) are the other processes asked, so reading a finished response costs no round trip."""
    info = await services.relay.known(org_id, response_id)
    if info is not None and (info.status != "completed" or info.snapshot is not None):
        return in_flight_response(info)
    try:
        return stored_response(await services.chats.get(org_id, response_id))
    except NotFound:
        info = await services.relay.info(org_id, response_id)
        if info is None:
            raise
        return in_flight_response(info)


def _completed_frame(response: dict[str, Any], sequence: int) -> bytes:
    body = {"type": "response.completed", "sequence_number": sequence, "response": response}
    return b"event: response.completed\ndata: " + orjson.dumps(body) + b"\n\n"


async def _single(frame: bytes) -> Any:
    yield frame


@router.get(
    "/chat/responses/{id}",
    operation_id="ChatController_getOpenAIChat",
    responses=answers(
        200,
        OpenAIResponse,
        "The `Response` (finished or in progress), or with `stream=true` its events after `starting_after`.",
        404,
        openai=True,
        stream=sse_events(
            "OpenAI Responses events after `starting_after`.", "ResponseStreamEvent", named=True
        ),
    ),
)
async def get_response(id: PathId, request: Request, org_id: OrgId, services: ServicesDep) -> Response:
    stream = _bool_param(request, "stream")
    after = _int_param(request, "starting_after", -1, -1, 2**31 - 1)
    if not stream:
        return json_response(await current_response(services, org_id, id))
    info = await services.relay.info(org_id, id)
    if info is not None and info.kind == "response":
        frames = await services.relay.follow(org_id, id, after)
        if frames is not None:
            return sse_response(frames)
    response = stored_response(await services.chats.get(org_id, id))
    return sse_response(_single(_completed_frame(response, after + 1)))


@router.post(
    "/chat/responses/{id}/cancel",
    operation_id="ChatController_cancelOpenAIChat",
    responses=answers(
        200, OpenAIResponse, "The `Response`, `cancelled` unless it had already ended.", 404, 413, openai=True
    ),
)
async def cancel_response(id: PathId, org_id: OrgId, services: ServicesDep) -> Response:
    info = await services.relay.cancel(org_id, id)
    if info is None:
        # A turn that is not (or no longer) running: its stored result, or 404.
        return json_response(stored_response(await services.chats.get(org_id, id)))
    if info.status == "completed" and info.snapshot is None:
        return json_response(stored_response(await services.chats.get(org_id, id)))
    return json_response(in_flight_response(info))


@router.delete(
    "/chat/responses/{id}",
    operation_id="ChatController_deleteOpenAIChat",
    responses=answers(200, DeletedResponse, "The response was deleted.", 404, openai=True),
)
async def delete_response(id: PathId, org_id: OrgId, services: ServicesDep) -> Response:
    """Deletes the stored chat and its kept events; a turn still running is cancelled first."""
    try:
        await services.chats.delete(org_id, id)
    except NotFound:
        info = await services.relay.info(org_id, id)
        if info is None:
            raise
        if info.status not in TERMINAL:
            await services.relay.cancel(org_id, id)
    await services.relay.forget(org_id, id)
    return json_response({"id": id, "object": "response", "deleted": True})


@router.get(
    "/chat/responses/{id}/input_items",
    operation_id="ChatController_listOpenAIChatInputItems",
    responses=answers(200, InputItemList, "A page of the response's input items.", 404, openai=True),
)
async def list_input_items(
    id: PathId,
    org_id: OrgId,
    services: ServicesDep,
    query: Annotated[PageQuery, Depends()],
) -> Response:
    items = input_items(await services.chats.get(org_id, id))
    return json_response(query.page(items, "input item '{after}' in this response"))
