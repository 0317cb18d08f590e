"""`/v2/knowledge-base`: create, list, get, update and delete knowledge bases, and attach, list, detach and
retry their files. Indexing runs in the background; a file's `status` says how far it got.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from chatloom.api.deps import OrgId, ServicesDep, json_body, json_request_body, json_response, parse_model
from chatloom.api.openapi import WITH_BODY, WITH_ID, PathId, answers
from chatloom.api.routes.listing import base_query
from chatloom.api.schemas.common import ListParams
from chatloom.api.schemas.knowledge_base import (
    AttachFileIn,
    KnowledgeBase,
    KnowledgeBaseFile,
    KnowledgeBaseIn,
    KnowledgeBasePatch,
)
from chatloom.domain.errors import InvalidRequest

router = APIRouter(tags=["Knowledge Bases"])

FileIdPath = Annotated[str, Path(alias="fileId", max_length=100)]


@router.post(
    "/v2/knowledge-base",
    status_code=201,
    operation_id="KnowledgeBaseV2Controller_create",
    openapi_extra=json_request_body("KnowledgeBaseIn"),
    responses=answers(
        201, KnowledgeBase, "The knowledge base, with the id of the tool that searches it.", *WITH_BODY
    ),
)
async def create_knowledge_base(request: Request, org_id: OrgId, services: ServicesDep) -> Response:
    body = parse_model(KnowledgeBaseIn, await json_body(request))
    fields = body.model_dump(exclude_none=True, mode="json")
    return json_response(await services.knowledge_bases.create(org_id, fields), status_code=201)


@router.get(
    "/v2/knowledge-base",
    operation_id="KnowledgeBaseV2Controller_findAll",
    responses=answers(200, list[KnowledgeBase], "The org's knowledge bases, newest first."),
)
async def list_knowledge_bases(
    org_id: OrgId, services: ServicesDep, params: Annotated[ListParams, Query()]
) -> Response:
    return json_response(await services.knowledge_bases.list_all(org_id, base_query(params)))


@router.get(
    "/v2/knowledge-base/{id}",
    operation_id="KnowledgeBaseV2Controller_findOne",
    responses=answers(200, KnowledgeBase, "The knowledge base and its files.", *WITH_ID),
)
async def get_knowledge_base(base_id: PathId, org_id: OrgId, services: ServicesDep) -> Response:
    return json_response(await services.knowledge_bases.get(org_id, base_id))


@router.patch(
    "/v2/knowledge-base/{id}",
    operation_id="KnowledgeBaseV2Controller_update",
    openapi_extra=json_request_body("KnowledgeBasePatch"),
    responses=answers(200, KnowledgeBase, "The updated knowledge base.", *WITH_ID, *WITH_BODY),
)
async def update_knowledge_base(
    base_id: PathId, request: Request, org_id: OrgId, services: ServicesDep
) -> Response:
    changes = parse_model(KnowledgeBasePatch, await json_body(request)).model_dump(exclude_unset=True)
    if "name" in changes and changes["name"] is None:
        raise InvalidRequest("name: cannot be null", field="name")
    return json_response(await services.knowledge_bases.update(org_id, base_id, changes))


@router.delete(
    "/v2/knowledge-base/{id}",
    operation_id="KnowledgeBaseV2Controller_remove",
    responses=answers(200, KnowledgeBase, "The deleted knowledge base (its tool is deleted too).", *WITH_ID),
)
async def delete_knowledge_base(base_id: PathId, org_id: OrgId, services: ServicesDep) -> Response:
    return json_response(await services.knowledge_bases.delete(org_id, base_id))


@router.get(
    "/v2/knowledge-base/{id}/file",
    operation_id="KnowledgeBaseV2Controller_filesGet",
    responses=answers(
        200, list[KnowledgeBaseFile], "The knowledge base's files and their indexing.", *WITH_ID
    ),
)
async def list_files(base_id: PathId, org_id: OrgId, services: ServicesDep) -> Response:
    return json_response(await services.knowledge_bases.files(org_id, base_id))


@router.post(
    "/v2/knowledge-base/{id}/file",
    status_code=201,
    operation_id="KnowledgeBaseV2Controller_fileAttach",
    openapi_extra=json_request_body("AttachFileIn"),
    responses=answers(
        201, KnowledgeBaseFile, "The attached file (indexed in the background).", *WITH_ID, *WITH_BODY
    ),
)
async def attach_file(base_id: PathId, request: Request, org_id: OrgId, services: ServicesDep) -> Response:
    body = parse_model(AttachFileIn, await json_body(request))
    return json_response(
        await services.knowledge_bases.attach(org_id, base_id, body.file_id), status_code=201
    )


@router.delete(
    "/v2/knowledge-base/{id}/file/{fileId}",
    operation_id="KnowledgeBaseV2Controller_fileDetach",
    responses=answers(200, KnowledgeBaseFile, "The detached file.", *WITH_ID),
)
async def detach_file(base_id: PathId, file_id: FileIdPath, org_id: OrgId, services: ServicesDep) -> Response:
    return json_response(await services.knowledge_bases.detach(org_id, base_id, file_id))


@router.post(
    "/v2/knowledge-base/{id}/file/{fileId}/retry",
    status_code=201,
    operation_id="KnowledgeBaseV2Controller_fileRetry",
    responses=answers(201, KnowledgeBaseFile, "The file, indexing again.", *WITH_ID, *WITH_BODY),
)
async def retry_file(base_id: PathId, file_id: FileIdPath, org_id: OrgId, services: ServicesDep) -> Response:
    return json_response(await services.knowledge_bases.retry(org_id, base_id, file_id), status_code=201)
