"""`/assistant`: create, list, get, update and delete stored assistants."""

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
from chatloom.api.schemas.assistant import AssistantIn, AssistantPatch
from chatloom.api.schemas.common import ListParams
from chatloom.api.schemas.records_out import Assistant
from chatloom.domain.errors import InvalidRequest
from chatloom.domain.ids import utc_now
from chatloom.engine.assistants.prompts import check_prompt_templates

router = APIRouter(tags=["Assistants"])


async def check_model(services: Services, org_id: str, model: Any) -> None:
    """Refuses, when an assistant is saved, what would only fail at chat time: a prompt template over the
    render limits, or a `toolIds` entry naming no tool of the caller's org."""
    if not isinstance(model, dict):
        return
    await check_prompt_templates(model, utc_now())
    tool_ids = [str(tool_id) for tool_id in model.get("toolIds") or []]
    if tool_ids:
        found = {tool["id"] for tool in await services.tools.get_many(org_id, tool_ids)}
        for index, tool_id in enumerate(tool_ids):
            if tool_id not in found:
                field = f"model.toolIds[{index}]"
                raise InvalidRequest(f"{field}: tool {tool_id} not found", field=field)


async def check_artifact_plan(services: Services, org_id: str, plan: Any) -> None:
    """Refuses an `artifactPlan.structuredOutputIds` entry naming no structured output of the org."""
    if not isinstance(plan, dict):
        return
    output_ids = [str(output_id) for output_id in plan.get("structuredOutputIds") or []]
    if output_ids:
        found = {output["id"] for output in await services.structured_outputs.get_many(org_id, output_ids)}
        for index, output_id in enumerate(output_ids):
            if output_id not in found:
                field = f"artifactPlan.structuredOutputIds[{index}]"
                raise InvalidRequest(f"{field}: structured output {output_id} not found", field=field)


@router.post(
    "/assistant",
    status_code=201,
    operation_id="AssistantController_create",
    openapi_extra=json_request_body("AssistantIn"),
    responses=answers(201, Assistant, "The stored assistant.", *WITH_BODY),
)
async def create_assistant(request: Request, org_id: OrgId, services: ServicesDep) -> Response:
    body = parse_model(AssistantIn, await json_body(request))
    fields = body.model_dump(by_alias=True, exclude_unset=True, mode="json")
    await check_model(services, org_id, fields.get("model"))
    await check_artifact_plan(services, org_id, fields.get("artifactPlan"))
    return json_response(await services.assistants.create(org_id, fields), status_code=201)


@router.get(
    "/assistant",
    operation_id="AssistantController_findAll",
    responses=answers(200, list[Assistant], "The org's assistants, newest first."),
)
async def list_assistants(
    org_id: OrgId, services: ServicesDep, params: Annotated[ListParams, Query()]
) -> Response:
    return json_response(await services.assistants.list(org_id, base_query(params)))


@router.get(
    "/assistant/{id}",
    operation_id="AssistantController_findOne",
    responses=answers(200, Assistant, "The assistant.", *WITH_ID),
)
async def get_assistant(assistant_id: PathId, org_id: OrgId, services: ServicesDep) -> Response:
    return json_response(await services.assistants.get(org_id, assistant_id))


@router.patch(
    "/assistant/{id}",
    operation_id="AssistantController_update",
    openapi_extra=json_request_body("AssistantPatch"),
    responses=answers(200, Assistant, "The updated assistant.", *WITH_ID, *WITH_BODY),
)
async def update_assistant(
    assistant_id: PathId, request: Request, org_id: OrgId, services: ServicesDep
) -> Response:
    body = parse_model(AssistantPatch, await json_body(request))
    changes = body.model_dump(by_alias=True, exclude_unset=True, mode="json")
    for protected in ("id", "orgId", "createdAt", "updatedAt"):
        changes.pop(protected, None)
    await check_model(services, org_id, changes.get("model"))
    await check_artifact_plan(services, org_id, changes.get("artifactPlan"))
    return json_response(await services.assistants.merge(org_id, assistant_id, changes))


@router.delete(
    "/assistant/{id}",
    operation_id="AssistantController_remove",
    responses=answers(200, Assistant, "The deleted assistant.", *WITH_ID),
)
async def delete_assistant(assistant_id: PathId, org_id: OrgId, services: ServicesDep) -> Response:
    return json_response(await services.assistants.delete(org_id, assistant_id))
