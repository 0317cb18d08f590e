"""Request plumbing: the services container, API-key auth (with a short trust cache), body parsing.

Every authenticated route receives the caller's org id; nothing below the API ever sees a key. Public
keys pass only `web_caller` (web chat), which also enforces their origin restriction.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError
from starlette.responses import Response

from chatloom.api.errors import first_field, validation_messages
from chatloom.api.json_limits import check_json_body
from chatloom.domain.encoded_messages import spliced
from chatloom.domain.errors import Forbidden, InvalidRequest, Unauthorized
from chatloom.engine.access.credentials import Credentials
from chatloom.engine.access.keys import KeyAccess, KeyVerifier, normalize_origin
from chatloom.engine.access.rate_limits import Limit, RateLimiter
from chatloom.engine.access.usage_gate import UsageGate
from chatloom.engine.artifacts.jobs import ArtifactJobs
from chatloom.engine.artifacts.session_artifacts import SessionArtifacts
from chatloom.engine.records.assistants import AssistantRecords
from chatloom.engine.records.chats import ChatRecords
from chatloom.engine.records.conversations import ConversationRecords
from chatloom.engine.records.documents import DocumentRecords
from chatloom.engine.records.file_jobs import FileJobs
from chatloom.engine.records.files import FileRecords
from chatloom.engine.records.knowledge_bases import KnowledgeBaseRecords
from chatloom.engine.records.knowledge_jobs import KnowledgeJobs
from chatloom.engine.records.sessions import SessionRecords
from chatloom.engine.squads.records import SquadRecords
from chatloom.engine.turn.engine import ChatEngine
from chatloom.engine.turn.in_flight import TurnsInFlight
from chatloom.engine.turn.web import WebChats
from chatloom.jobs.runner import JobRunner
from chatloom.outbound.http import OutboundHttp
from chatloom.relay.memory import MemoryRelay

ModelT = TypeVar("ModelT", bound=BaseModel)

web_log = logging.getLogger("chatloom.web")


def web_refusal(message: str, key: KeyAccess) -> Forbidden:
    """A 403 for web chat, logged (without the key) so a site owner can see why a widget gets no reply."""
    web_log.info("web chat refused (403) for key %s of org %s: %s", key.key_id, key.org_id, message)
    return Forbidden(message)


@dataclass(slots=True)
class Services:
    engine: ChatEngine
    assistants: AssistantRecords
    credentials: Credentials
    sessions: SessionRecords
    tools: DocumentRecords
    squads: SquadRecords
    chats: ChatRecords
    keys: KeyVerifier
    in_flight: TurnsInFlight
    auth_cache_seconds: float
    outbound_http: OutboundHttp
    relay: MemoryRelay
    web_chats: WebChats
    limiter: RateLimiter
    web_turn_limit: Limit
    web_max_input_chars: int
    usage: UsageGate
    conversations: ConversationRecords
    structured_outputs: DocumentRecords
    artifacts: SessionArtifacts
    artifact_jobs: ArtifactJobs
    files: FileRecords
    file_jobs: FileJobs
    knowledge_bases: KnowledgeBaseRecords
    knowledge_jobs: KnowledgeJobs
    _trusted: dict[str, tuple[KeyAccess, float]] = field(default_factory=dict)
    jobs: JobRunner | None = None
    """This process's background job runner (None when CHATLOOM_JOBS is off, or outside a server)."""

    async def access_for_key(self, key: str) -> KeyAccess | None:
        now = time.monotonic()
        cached = self._trusted.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        access = await self.keys.access_for_key(key)
        if access is not None and self.auth_cache_seconds > 0:
            if len(self._trusted) > 10_000:
                self._trusted.clear()
            self._trusted[key] = (access, now + self.auth_cache_seconds)
        return access


def services_of(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


async def services(request: Request) -> Services:
    # async: a plain function dependency would run in the threadpool on every request.
    return services_of(request)


async def key_access(request: Request) -> KeyAccess:
    """What the caller's key may do; 401 without a valid `Authorization: Bearer <key>`."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise Unauthorized("Missing API key: send 'Authorization: Bearer <key>'")
    access = await services_of(request).access_for_key(key)
    if access is None:
        raise Unauthorized("Invalid API key")
    request.state.org_id = access.org_id  # for the access log
    request.state.key_id = access.key_id  # for the key's usage limits
    return access


def key_id_of(request: Request) -> str | None:
    """The id of the API key that authenticated the request (after `key_access`)."""
    return getattr(request.state, "key_id", None)


async def caller_org(request: Request) -> str:
    """The org of the caller's private API key; 401 without one (a public key included)."""
    access = await key_access(request)
    if access.public:
        raise Unauthorized(
            "This API key is public: it opens only POST /chat/web and /chat/web/responses. "
            "Use a private key for this route."
        )
    return access.org_id


async def web_caller(request: Request) -> KeyAccess:
    """A private key, or a public key used from one of its allowed origins (else 403 naming it)."""
    access = await key_access(request)
    if access.public and access.origins is not None:
        origin = request.headers.get("origin")
        if not origin:
            raise web_refusal(
                "This public key is restricted to some origins and the request has no Origin header", access
            )
        try:
            allowed = normalize_origin(origin) in access.origins
        except InvalidRequest:
            allowed = False
        if not allowed:
            raise web_refusal(f"Origin {origin[:200]} is not allowed to use this public key", access)
    return access


OrgId = Annotated[str, Depends(caller_org)]
ServicesDep = Annotated[Services, Depends(services)]


def json_response(document: Any, status_code: int = 200) -> Response:
    """The document as JSON; a long history that holds its JSON (`EncodedMessages`) goes in as it is."""
    body = orjson.dumps(document, default=spliced, option=orjson.OPT_PASSTHROUGH_SUBCLASS)
    return Response(body, status_code=status_code, media_type="application/json")


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
