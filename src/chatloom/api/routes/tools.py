"""`/tool`: create, list, get, update and delete stored tools.

A query tool's file knowledge bases must list the org's files; saving the tool starts their indexing. A
`knowledgeBase` tool must name one of the org's knowledge bases.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from chatloom.api.deps import (
    OrgId,
    Services,
    ServicesDep,
    json_body,
    json_request_body,
    json_response,
    parse_model,
)
from chatloom.api.openapi import WITH_BODY, WITH_ID, PathId, answers
from chatloom.api.routes.listing import base_query
from chatloom.api.schemas.common import ListParams
from chatloom.api.schemas.records_out import Tool
from chatloom.api.schemas.tool import STORED_FIELDS, ToolPatch, apply_tool_patch, parse_tool, tool_fields
from chatloom.domain.errors import InvalidRequest, NotFound

router = APIRouter(tags=["Tools"])


@router.post(
    "/tool",
    status_code=201,
    operation_id="ToolController_create",
    openapi_extra=json_request_body("ToolIn"),
    responses=answers(201, Tool, "The stored tool.", *WITH_BODY),
)
async def create_tool(request: Request, org_id: OrgId, services: ServicesDep) -> Response:
    fields = tool_fields(parse_tool(await json_body(request)))
    for protected in STORED_FIELDS:
        fields.pop(protected, None)
    await check_references(services, org_id, fields)
    tool = await services.tools.create(org_id, fields)
    await services.knowledge_bases.tool_saved(org_id, tool)
    return json_response(tool, status_code=201)


async def check_references(services: Services, org_id: str, tool: dict[str, Any]) -> None:
    """The org's files and knowledge bases a tool names exist (a 400 naming the field otherwise)."""
    if tool.get("type") == "query":
        await services.knowledge_bases.check_query_tool(org_id, tool)
    elif tool.get("type") == "knowledgeBase":
        base_id = str(tool.get("knowledgeBaseId"))
        try:
            await services.knowledge_bases.get(org_id, base_id)
        except NotFound:
            message = f"knowledgeBaseId: knowledge base {base_id} not found"
            raise InvalidRequest(message, field="knowledgeBaseId") from None


@router.get(
    "/tool",
    operation_id="ToolController_findAll",
    responses=answers(200, list[Tool], "The org's tools, newest first."),
)
async def list_tools(
    org_id: OrgId, services: ServicesDep, params: Annotated[ListParams, Query()]
) -> Response:
    return json_response(await services.tools.list(org_id, base_query(params)))


@router.get(
    "/tool/{id}", operation_id="ToolController_findOne", responses=answers(200, Tool, "The tool.", *WITH_ID)
)
async def get_tool(tool_id: PathId, org_id: OrgId, services: ServicesDep) -> Response:
    return json_response(await services.tools.get(org_id, tool_id))


@router.patch(
    "/tool/{id}",
    operation_id="ToolController_update",
    openapi_extra=json_request_body("ToolPatch"),
    responses=answers(200, Tool, "The updated tool.", *WITH_ID, *WITH_BODY),
)
async def update_tool(tool_id: PathId, request: Request, org_id: OrgId, services: ServicesDep) -> Response:
    body = parse_model(ToolPatch, await json_body(request))
    changes = body.model_dump(by_alias=True, exclude_unset=True, mode="json")

    current = apply_tool_patch(await services.tools.get(org_id, tool_id), changes)
    await check_references(services, org_id, current)

    def revise(stored: dict[str, Any]) -> dict[str, Any]:
        return apply_tool_patch(stored, changes)

    tool = await services.tools.update(org_id, tool_id, revise)
    await services.knowledge_bases.tool_saved(org_id, tool)
    return json_response(tool)


@router.delete(
    "/tool/{id}",
    operation_id="ToolController_remove",
    responses=answers(200, Tool, "The deleted tool.", *WITH_ID),
)
async def delete_tool(tool_id: PathId, org_id: OrgId, services: ServicesDep) -> Response:
    tool = await services.tools.delete(org_id, tool_id)
    await services.knowledge_bases.tool_deleted(org_id, tool_id)
    return json_response(tool)
