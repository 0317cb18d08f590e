"""`/squad`: create, list, get, update and delete squads (assistants that hand off to each other)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from chatloom.api.deps import OrgId, ServicesDep, json_body, json_request_body, json_response, parse_model
from chatloom.api.openapi import WITH_BODY, WITH_ID, PathId, answers
from chatloom.api.routes.listing import base_query
from chatloom.api.schemas.common import ListParams
from chatloom.api.schemas.records_out import Squad
from chatloom.api.schemas.squad import SquadIn, SquadPatch

router = APIRouter(tags=["Squads"])


@router.post(
    "/squad",
    status_code=201,
    operation_id="SquadController_create",
    openapi_extra=json_request_body("SquadIn"),
    responses=answers(201, Squad, "The stored squad.", *WITH_BODY),
)
async def create_squad(request: Request, org_id: OrgId, services: ServicesDep) -> Response:
    body = parse_model(SquadIn, await json_body(request))
    fields = body.model_dump(by_alias=True, exclude_unset=True, mode="json")
    return json_response(await services.squads.create(org_id, fields), status_code=201)


@router.get(
    "/squad",
    operation_id="SquadController_findAll",
    responses=answers(200, list[Squad], "The org's squads, newest first."),
)
async def list_squads(
    org_id: OrgId, services: ServicesDep, params: Annotated[ListParams, Query()]
) -> Response:
    return json_response(await services.squads.list(org_id, base_query(params)))


@router.get(
    "/squad/{id}",
    operation_id="SquadController_findOne",
    responses=answers(200, Squad, "The squad.", *WITH_ID),
)
async def get_squad(squad_id: PathId, org_id: OrgId, services: ServicesDep) -> Response:
    return json_response(await services.squads.get(org_id, squad_id))


@router.patch(
    "/squad/{id}",
    operation_id="SquadController_update",
    openapi_extra=json_request_body("SquadPatch"),
    responses=answers(200, Squad, "The updated squad.", *WITH_ID, *WITH_BODY),
)
async def update_squad(squad_id: PathId, request: Request, org_id: OrgId, services: ServicesDep) -> Response:
    body = parse_model(SquadPatch, await json_body(request))
    changes = body.model_dump(by_alias=True, exclude_unset=True, mode="json")
    for protected in ("id", "orgId", "createdAt", "updatedAt"):
        changes.pop(protected, None)
    return json_response(await services.squads.merge(org_id, squad_id, changes))


@router.delete(
    "/squad/{id}",
    operation_id="SquadController_remove",
    responses=answers(200, Squad, "The deleted squad.", *WITH_ID),
)
async def delete_squad(squad_id: PathId, org_id: OrgId, services: ServicesDep) -> Response:
    return json_response(await services.squads.delete(org_id, squad_id))
