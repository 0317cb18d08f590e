"""`/structured-output`: create, list, get, update and delete structured outputs, and run one on sessions or
chats (`/structured-output/run`: a preview answers with the result; otherwise the runs are queued and each
session's artifact is updated when its run finishes)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

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
from chatloom.api.routes.listing import base_query, paginated
from chatloom.api.schemas.records_out import StructuredOutput, StructuredOutputPaginatedResponse
from chatloom.api.schemas.structured_output import (
    ListStructuredOutputsParams,
    StructuredOutputIn,
    StructuredOutputPatch,
    StructuredOutputRunIn,
)
from chatloom.domain.errors import InvalidRequest
from chatloom.engine.artifacts.definitions import definition
from chatloom.engine.artifacts.session_artifacts import MAX_OUTPUTS

router = APIRouter(tags=["Structured Outputs"])

SORTABLE = {"createdAt": "created_at", "updatedAt": "updated_at"}
REQUIRED = ("name", "schema", "type")


async def _check_assistants(services: Services, org_id: str, fields: dict[str, Any]) -> None:
    ids = [str(value) for value in fields.get("assistantIds") or []]
    if not ids:
        return
    found = {assistant["id"] for assistant in await services.assistants.get_many(org_id, ids)}
    for index, assistant_id in enumerate(ids):
        if assistant_id not in found:
            field = f"assistantIds[{index}]"
            raise InvalidRequest(f"{field}: assistant {assistant_id} not found", field=field)


def _fields(body: StructuredOutputIn | StructuredOutputPatch) -> dict[str, Any]:
    return body.model_dump(by_alias=True, exclude_unset=True, mode="json")


@router.post(
    "/structured-output",
    status_code=201,
    operation_id="StructuredOutputController_create",
    openapi_extra=json_request_body("StructuredOutputIn"),
    responses=answers(201, StructuredOutput, "The stored structured output.", *WITH_BODY),
)
async def create_structured_output(request: Request, org_id: OrgId, services: ServicesDep) -> Response:
    given = _fields(parse_model(StructuredOutputIn, await json_body(request)))
    fields = {key: value for key, value in given.items() if value is not None}  # null: not given
    fields.setdefault("type", "ai")
    await _check_assistants(services, org_id, fields)
    if await services.structured_outputs.count(org_id) >= MAX_OUTPUTS:
        raise InvalidRequest(f"an org can keep at most {MAX_OUTPUTS} structured outputs; delete some first")
    return json_response(await services.structured_outputs.create(org_id, fields), status_code=201)


@router.get(
    "/structured-output",
    operation_id="StructuredOutputController_findAll",
    responses=answers(200, StructuredOutputPaginatedResponse, "A page of the org's structured outputs."),
)
async def list_structured_outputs(
    org_id: OrgId, services: ServicesDep, params: Annotated[ListStructuredOutputsParams, Query()]
) -> Response:
    query = base_query(params)
    if params.id is not None:
        query.equal["id"] = params.id
    if params.name is not None:
        query.equal["name"] = params.name
    if params.sort_by is not None:
        query.sort_by = SORTABLE[params.sort_by]
    return json_response(paginated(await services.structured_outputs.page(org_id, query), query))


@router.get(
    "/structured-output/{id}",
    operation_id="StructuredOutputController_findOne",
    responses=answers(200, StructuredOutput, "The structured output.", *WITH_ID),
)
async def get_structured_output(output_id: PathId, org_id: OrgId, services: ServicesDep) -> Response:
    return json_response(await services.structured_outputs.get(org_id, output_id))


@router.patch(
    "/structured-output/{id}",
    operation_id="StructuredOutputController_update",
    openapi_extra=json_request_body("StructuredOutputPatch"),
    responses=answers(200, StructuredOutput, "The updated structured output.", *WITH_ID, *WITH_BODY),
)
async def update_structured_output(
    output_id: PathId,
    request: Request,
    org_id: OrgId,
    services: ServicesDep,
    schema_override: Annotated[Literal["true", "false"], Query(alias="schemaOverride")] = "false",
) -> Response:
    changes = _fields(parse_model(StructuredOutputPatch, await json_body(request)))
    await _check_assistants(services, org_id, changes)

    def revise(stored: dict[str, Any]) -> dict[str, Any]:
        kept = {k: v for k, v in stored.items() if k not in ("id", "orgId", "createdAt", "updatedAt")}
        new_schema = changes.get("schema")
        if new_schema is not None and schema_override != "true":
            before, after = (stored.get("schema") or {}).get("type"), new_schema.get("type")
            if before != after:
                raise InvalidRequest(
                    f"schema.type: changing the schema's top-level type ({before} to {after}) needs "
                    "?schemaOverride=true (results already extracted keep the old shape)",
                    field="schema.type",
                )
        merged = {**kept, **changes}
        for key, value in changes.items():
            if value is None:  # null clears an optional field (`conditions: null` lifts the gate)
                if key in REQUIRED:
                    raise InvalidRequest(f"{key}: cannot be null", field=key)
                merged.pop(key, None)
        if merged.get("type") == "regex" and not merged.get("regex"):
            raise InvalidRequest("regex: a regex structured output needs `regex`", field="regex")
        return merged

    return json_response(await services.structured_outputs.update(org_id, output_id, revise))


@router.delete(
    "/structured-output/{id}",
    operation_id="StructuredOutputController_remove",
    responses=answers(200, StructuredOutput, "The deleted structured output.", *WITH_ID),
)
async def delete_structured_output(output_id: PathId, org_id: OrgId, services: ServicesDep) -> Response:
    return json_response(await services.structured_outputs.delete(org_id, output_id))


@router.post(
    "/structured-output/run",
    operation_id="StructuredOutputController_run",
    openapi_extra=json_request_body("StructuredOutputRunIn"),
    responses=answers(
        200,
        dict[str, Any],
        "A preview: the result by output id (and `skipped`); otherwise `{message}`: the runs are queued.",
        *WITH_BODY,
    ),
)
async def run_structured_output(request: Request, org_id: OrgId, services: ServicesDep) -> Response:
    body = parse_model(StructuredOutputRunIn, await json_body(request))
    if body.structured_output_id is not None:
        output = definition(await services.structured_outputs.get(org_id, body.structured_output_id))
    else:
        assert body.structured_output is not None
        inline = body.structured_output.model_dump(by_alias=True, exclude_unset=True, mode="json")
        output = definition({"type": "ai", **inline})
    artifacts = services.artifacts
    if body.preview_enabled:
        if body.session_ids:
            run = await artifacts.preview_session(org_id, body.session_ids[0], output)
        else:
            assert body.chat_ids
            run = await artifacts.preview_chat(org_id, body.chat_ids[0], output)
        answer: dict[str, Any] = dict(run.results)
        if run.skipped:
            answer["skipped"] = run.skipped
        return json_response(answer)
    session_ids = list(dict.fromkeys(body.session_ids or ()))
    source = (
        {"structuredOutputId": body.structured_output_id}
        if body.structured_output_id is not None
        else {"structuredOutput": {"type": "ai", **inline}}
    )
    await services.sessions.queue_runs(org_id, session_ids, source)
    return json_response({"message": f"queued {len(session_ids)} run(s); each session's artifact is updated"})
