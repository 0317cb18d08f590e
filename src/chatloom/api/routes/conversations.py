"""`/chat/conversations`: OpenAI's Conversations API as the OpenAI SDK calls it with
`base_url=<server>/chat`: conversations (create, retrieve, update, delete) and their items (list, add,
retrieve, delete). A turn reads and extends one through `conversation` on `POST /chat/responses`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from starlette.responses import Response

from chatloom.api.conversation_items import conversation_object, items_of, key_of, messages_of
from chatloom.api.deps import OrgId, ServicesDep, json_body, json_request_body, json_response, parse_model
from chatloom.api.item_pages import PageQuery, page_of
from chatloom.api.openapi import PathId, answers
from chatloom.api.schemas.conversation import (
    Conversation,
    ConversationCreateIn,
    ConversationDeleted,
    ConversationItemList,
    ConversationItemsIn,
    ConversationUpdateIn,
)
from chatloom.domain.errors import InvalidRequest, NotFound
from chatloom.domain.ids import new_id

router = APIRouter(tags=["Conversations"])

ItemId = Annotated[str, Path(description="The item's id.")]


@router.post(
    "/chat/conversations",
    operation_id="ConversationController_create",
    openapi_extra=json_request_body("ConversationCreateIn"),
    responses=answers(200, Conversation, "The new conversation.", 400, 413, openai=True),
)
async def create_conversation(request: Request, org_id: OrgId, services: ServicesDep) -> Response:
    body = parse_model(ConversationCreateIn, await json_body(request))
    messages = messages_of(body.items or [])
    conversation_id = "conv_" + new_id().replace("-", "")
    row = await services.conversations.create(org_id, conversation_id, body.metadata or {}, messages)
    return json_response(conversation_object(row))


@router.get(
    "/chat/conversations/{id}",
    operation_id="ConversationController_get",
    responses=answers(200, Conversation, "The conversation.", 404, openai=True),
)
async def get_conversation(id: PathId, org_id: OrgId, services: ServicesDep) -> Response:
    return json_response(conversation_object(await services.conversations.get(org_id, id)))


@router.post(
    "/chat/conversations/{id}",
    operation_id="ConversationController_update",
    openapi_extra=json_request_body("ConversationUpdateIn"),
    responses=answers(
        200, Conversation, "The conversation with its new metadata.", 400, 404, 413, openai=True
    ),
)
async def update_conversation(id: PathId, request: Request, org_id: OrgId, services: ServicesDep) -> Response:
    body = parse_model(ConversationUpdateIn, await json_body(request))
    row = await services.conversations.update_metadata(org_id, id, body.metadata or {})
    return json_response(conversation_object(row))


@router.delete(
    "/chat/conversations/{id}",
    operation_id="ConversationController_delete",
    responses=answers(200, ConversationDeleted, "The conversation was deleted.", 404, openai=True),
)
async def delete_conversation(id: PathId, org_id: OrgId, services: ServicesDep) -> Response:
    await services.conversations.delete(org_id, id)
    return json_response({"id": id, "object": "conversation.deleted", "deleted": True})


@router.get(
    "/chat/conversations/{id}/items",
    operation_id="ConversationController_listItems",
    responses=answers(
        200, ConversationItemList, "A page of the conversation's items.", 400, 404, openai=True
    ),
)
async def list_items(
    id: PathId,
    org_id: OrgId,
    services: ServicesDep,
    query: Annotated[PageQuery, Depends()],
) -> Response:
    row, entries = await services.conversations.items(org_id, id)
    items = items_of(id, entries, row.hidden)
    return json_response(query.page(items, "item '{after}' in this conversation"))


@router.post(
    "/chat/conversations/{id}/items",
    operation_id="ConversationController_createItems",
    openapi_extra=json_request_body("ConversationItemsIn"),
    responses=answers(
        200, ConversationItemList, "The items added, with their ids.", 400, 404, 413, openai=True
    ),
)
async def add_items(id: PathId, request: Request, org_id: OrgId, services: ServicesDep) -> Response:
    body = parse_model(ConversationItemsIn, await json_body(request))
    messages = messages_of(body.items)
    if not messages:
        raise InvalidRequest("items: give at least one item", field="items")
    added = await services.conversations.add(org_id, id, messages)
    return json_response(page_of(items_of(id, added)))


async def _find(services: ServicesDep, org_id: str, conversation_id: str, item_id: str) -> dict[str, object]:
    row, entries = await services.conversations.items(org_id, conversation_id)
    for item in items_of(conversation_id, entries, row.hidden):
        if item["id"] == item_id:
            return item
    raise NotFound(f"Item {item_id} not found in conversation {conversation_id}")


@router.get(
    "/chat/conversations/{id}/items/{item_id}",
    operation_id="ConversationController_getItem",
    responses=answers(200, dict[str, object], "The item.", 404, openai=True),
)
async def get_item(id: PathId, item_id: ItemId, org_id: OrgId, services: ServicesDep) -> Response:
    return json_response(await _find(services, org_id, id, item_id))


@router.delete(
    "/chat/conversations/{id}/items/{item_id}",
    operation_id="ConversationController_deleteItem",
    responses=answers(200, Conversation, "The item was deleted: the conversation.", 404, openai=True),
)
async def delete_item(id: PathId, item_id: ItemId, org_id: OrgId, services: ServicesDep) -> Response:
    await _find(services, org_id, id, item_id)  # a 404 unless the item is there
    key = key_of(id, item_id)
    assert key is not None  # the ids found are this conversation's
    row = await services.conversations.hide(org_id, id, (key,))
    return json_response(conversation_object(row))
