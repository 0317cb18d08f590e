"""`/credential`: an org's provider keys. Secrets are write-only: responses show a `hint` only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from chatloom.api.deps import OrgId, ServicesDep, json_body, json_request_body, json_response, parse_model
from chatloom.api.routes.listing import base_query
from chatloom.api.schemas.common import ListParams
from chatloom.api.schemas.credential import CredentialIn, CredentialPatch

router = APIRouter(tags=["Credentials"])


@router.post(
    "/credential",
    status_code=201,
    operation_id="CredentialController_create",
    openapi_extra=json_request_body("CredentialIn"),
)
async def create_credential(request: Request, org_id: OrgId, services: ServicesDep) -> Response:
    body = parse_model(CredentialIn, await json_body(request))
    fields = body.model_dump(by_alias=True, exclude_unset=True, exclude_none=True, mode="json")
    return json_response(await services.credentials.create(org_id, fields), status_code=201)


@router.get("/credential", operation_id="CredentialController_findAll")
async def list_credentials(
    org_id: OrgId, services: ServicesDep, params: Annotated[ListParams, Query()]
) -> Response:
    return json_response(await services.credentials.list(org_id, base_query(params)))


@router.get("/credential/{id}", operation_id="CredentialController_findOne")
async def get_credential(id: str, org_id: OrgId, services: ServicesDep) -> Response:
    return json_response(await services.credentials.get(org_id, id))


@router.patch(
    "/credential/{id}",
    operation_id="CredentialController_update",
    openapi_extra=json_request_body("CredentialPatch"),
)
async def update_credential(id: str, request: Request, org_id: OrgId, services: ServicesDep) -> Response:
    body = parse_model(CredentialPatch, await json_body(request))
    changes = body.model_dump(by_alias=True, exclude_unset=True, exclude_none=True, mode="json")
    return json_response(await services.credentials.update(org_id, id, changes))


@router.delete("/credential/{id}", operation_id="CredentialController_remove")
async def delete_credential(id: str, org_id: OrgId, services: ServicesDep) -> Response:
    return json_response(await services.credentials.delete(org_id, id))
