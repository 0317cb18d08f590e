"""`/session`: create, list, get, update and delete sessions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from chatloom.api.deps import OrgId, ServicesDep, json_body, json_request_body, json_response, parse_model
from chatloom.api.openapi import WITH_BODY, WITH_ID, PathId, answers
from chatloom.api.routes.listing import filtered_query, paginated, split_ids
from chatloom.api.schemas.common import ChatMessageIn
from chatloom.api.schemas.records_out import Session, SessionPaginatedResponse
from chatloom.api.schemas.session import CreateSessionIn, ListSessionsParams, UpdateSessionIn
from chatloom.api.wire_input import to_message
from chatloom.domain.errors import InvalidRequest
from chatloom.engine.records.redaction import public_document
from chatloom.engine.squads.records import seal_members
from chatloom.store.sessions import SORTABLE as SESSION_SORTABLE

router = APIRouter(tags=["Sessions"])


def _messages(items: list[ChatMessageIn]) -> list[dict[str, Any]]:
    return [dict(to_message(item, f"messages[{index}]")) for index, item in enumerate(items)]


@router.post(
    "/session",
    status_code=201,
    operation_id="SessionController_create",
    openapi_extra=json_request_body("CreateSessionIn"),
    responses=answers(201, Session, "The new session.", *WITH_ID, *WITH_BODY),
)
async def create_session(request: Request, org_id: OrgId, services: ServicesDep) -> Response:
    body = parse_model(CreateSessionIn, await json_body(request))
    if body.squad_id is not None:
        await services.squads.get(org_id, body.squad_id)  # another org's squad is not found (404)
    elif body.squad is not None:
        await services.squads.check_members(org_id, body.squad.model_dump(by_alias=True)["members"])
    if body.phone_number_id is not None or body.phone_number is not None:
        raise InvalidRequest(
            "phoneNumberId/phoneNumber: SMS sessions are not supported by this server", "phoneNumber"
        )
    fields = body.model_dump(by_alias=True, exclude_unset=True, exclude={"messages"}, mode="json")
    fields["status"] = body.status
    fields["expirationSeconds"] = body.expiration_seconds
    fields["messages"] = _messages(body.messages or [])
    for name in ("assistant", "assistantOverrides"):  # inline credentials are stored sealed
        if name in fields:
            fields[name] = services.credentials.seal_assistant(fields[name])
    if isinstance(fields.get("squad"), dict):
        seal_members(services.credentials, fields["squad"])
    session = await services.sessions.create(org_id, fields)
    return json_response(public_document(session), status_code=201)


@router.get(
    "/session",
    operation_id="SessionController_findAllPaginated",
    responses=answers(200, SessionPaginatedResponse, "One page of the org's sessions."),
)
async def list_sessions(
    org_id: OrgId, services: ServicesDep, params: Annotated[ListSessionsParams, Query()]
) -> Response:
    query = filtered_query(
        params,
        equal={
            "id": params.id,
            "name": params.name,
            "assistant_id": params.assistant_id,
            "squad_id": params.squad_id,
        },
        any_of={"id": params.id_any, "assistant_id": params.assistant_id_any},
    )
    customer = {
        ("customer", "name"): params.customer_name,
        ("customer", "number"): params.number,
        ("customer", "email"): params.email,
        ("customer", "externalId"): params.external_id,
    }
    query.body_equal.update({path: value for path, value in customer.items() if value})
    if params.customer_number_any:
        query.body_any_of[("customer", "number")] = split_ids(params.customer_number_any)
    query.sort_by = SESSION_SORTABLE[params.sort_by]
    page = await services.sessions.list(org_id, query)
    page.items = [public_document(session) for session in page.items]
    return json_response(paginated(page, query))


@router.get(
    "/session/{id}",
    operation_id="SessionController_findOne",
    responses=answers(200, Session, "The session.", *WITH_ID),
)
async def get_session(session_id: PathId, org_id: OrgId, services: ServicesDep) -> Response:
    return json_response(public_document(await services.sessions.get(org_id, session_id)))


@router.patch(
    "/session/{id}",
    operation_id="SessionController_update",
    openapi_extra=json_request_body("UpdateSessionIn"),
    responses=answers(200, Session, "The updated session.", *WITH_ID, *WITH_BODY),
)
async def update_session(
    session_id: PathId, request: Request, org_id: OrgId, services: ServicesDep
) -> Response:
    body = parse_model(UpdateSessionIn, await json_body(request))
    changes = body.model_dump(by_alias=True, exclude_unset=True, exclude={"messages"}, mode="json")
    if body.messages is not None:
        changes["messages"] = _messages(body.messages)
    for field in ("status", "expirationSeconds", "name"):
        if field in changes and changes[field] is None:
            raise InvalidRequest(f"{field}: must not be null", field)
    return json_response(public_document(await services.sessions.update(org_id, session_id, changes)))


@router.delete(
    "/session/{id}",
    operation_id="SessionController_remove",
    responses=answers(200, Session, "The deleted session.", *WITH_ID),
)
async def delete_session(session_id: PathId, org_id: OrgId, services: ServicesDep) -> Response:
    return json_response(public_document(await services.sessions.delete(org_id, session_id)))
