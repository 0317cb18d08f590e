"""Request plumbing: the services container, API-key auth (with a short trust cache), body parsing.

Every authenticated route receives the caller's org id; nothing below the API ever sees a key.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError
from starlette.responses import Response

from chatloom.api.errors import first_field, validation_messages
from chatloom.api.json_limits import check_json_body
from chatloom.domain.errors import InvalidRequest, Unauthorized
from chatloom.engine.keys import KeyVerifier
from chatloom.engine.records import ChatRecords, DocumentRecords
from chatloom.engine.sessions import SessionRecords
from chatloom.engine.turn import ChatEngine
from chatloom.engine.turns_in_flight import TurnsInFlight
from chatloom.outbound.http import OutboundHttp
from chatloom.relay.memory import MemoryRelay

ModelT = TypeVar("ModelT", bound=BaseModel)


@dataclass(slots=True)
class Services:
    engine: ChatEngine
    assistants: DocumentRecords
    sessions: SessionRecords
    tools: DocumentRecords
    chats: ChatRecords
    keys: KeyVerifier
    in_flight: TurnsInFlight
    auth_cache_seconds: float
    outbound_http: OutboundHttp
    relay: MemoryRelay
    _trusted: dict[str, tuple[str, float]] = field(default_factory=dict)

    async def org_for_key(self, key: str) -> str | None:
        now = time.monotonic()
        cached = self._trusted.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        org_id = await self.keys.org_for_key(key)
        if org_id is not None and self.auth_cache_seconds > 0:
            if len(self._trusted) > 10_000:
                self._trusted.clear()
            self._trusted[key] = (org_id, now + self.auth_cache_seconds)
        return org_id


def services_of(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


async def services(request: Request) -> Services:
    # async: a plain function dependency would run in the threadpool on every request.
    return services_of(request)


async def caller_org(request: Request) -> str:
    """The org of the caller's API key; 401 without a valid `Authorization: Bearer <key>`."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise Unauthorized("Missing API key: send 'Authorization: Bearer <key>'")
    org_id = await services_of(request).org_for_key(key)
    if org_id is None:
        raise Unauthorized("Invalid API key")
    return org_id


OrgId = Annotated[str, Depends(caller_org)]
ServicesDep = Annotated[Services, Depends(services)]


def json_response(document: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(document), status_code=status_code, media_type="application/json")


def json_request_body(schema_name: str) -> dict[str, Any]:
    """OpenAPI for a route that parses its JSON body itself (so errors are Vapi-shaped 400s)."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name}"}}},
        }
    }


async def json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        raise InvalidRequest("request body is empty: send a JSON object")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise InvalidRequest(f"request body is not valid JSON: {error}") from None
    check_json_body(raw, value)
    return value


def parse_model(model: type[ModelT], data: Any, prefix: str = "") -> ModelT:
    """Validates `data` as `model`; a failure is a 400 whose messages name each field."""
    if not isinstance(data, dict):
        raise InvalidRequest("request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        errors = list(error.errors())
        raise InvalidRequest(validation_messages(errors, prefix), field=first_field(errors, prefix)) from None
