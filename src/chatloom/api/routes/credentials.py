"""`/credential`: an org's provider keys. Secrets are write-only: responses show a `hint` only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from chatloom.api.deps import OrgId, ServicesDep, json_body, json_request_body, json_response, parse_model
from chatloom.api.openapi import WITH_BODY, WITH_ID, PathId, answers
from chatloom.api.routes.listing import base_query
from chatloom.api.schemas.common import ListParams
from chatloom.api.schemas.credential import CredentialIn, CredentialPatch
from chatloom.api.schemas.records_out import Credential

router = APIRouter(tags=["Credentials"])


@router.post(
    "/credential",
    status_code=201,
    operation_id="CredentialController_create",
    openapi_extra=json_request_body("CredentialIn"),
    responses=answers(201, Credential, "The stored credential (its secret is never shown).", *WITH_BODY),
)
async def create_credential(request: Request, org_id: OrgId, services: ServicesDep) -> Response:
    body = parse_model(CredentialIn, await json_body(request))
    fields = body.model_dump(by_alias=True, exclude_unset=True, exclude_none=True, mode="json")
    return json_response(await services.credentials.create(org_id, fields), status_code=201)


@router.get(
    "/credential",
    operation_id="CredentialController_findAll",
    responses=answers(200, list[Credential], "The org's credentials, newest first."),
)
async def list_credentials(
    org_id: OrgId, services: ServicesDep, params: Annotated[ListParams, Query()]
) -> Response:
    return json_response(await services.credentials.list(org_id, base_query(params)))


@router.get(
    "/credential/{id}",
    operation_id="CredentialController_findOne",
    responses=answers(200, Credential, "The credential.", *WITH_ID),
)
async def get_credential(id: PathId, org_id: OrgId, services: ServicesDep) -> Response:
    return json_response(await services.credentials.get(org_id, id))


@router.patch(
    "/credential/{id}",
    operation_id="CredentialController_update",
    openapi_extra=json_request_body("CredentialPatch"),
    responses=answers(200, Credential, "The updated credential.", *WITH_ID, *WITH_BODY),
)
async def update_credential(id: PathId, request: Request, org_id: OrgId, services: ServicesDep) -> Response:
    body = parse_model(CredentialPatch, await json_body(request))
    changes = body.model_dump(by_alias=True, exclude_unset=True, exclude_none=True, mode="json")
    return json_response(await services.credentials.update(org_id, id, changes))


@router.delete(
    "/credential/{id}",
    operation_id="CredentialController_remove",
    responses=answers(200, Credential, "The deleted credential.", *WITH_ID),
)
async def delete_credential(id: PathId, org_id: OrgId, services: ServicesDep) -> Response:
    return json_response(await services.credentials.delete(org_id, id))
