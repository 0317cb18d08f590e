"""The OpenAPI document (`GET /api-json`): response declarations for routes, and the finishing pass.

Routes declare their 2xx models and the error statuses they really send with `answers()`; the
finishing pass adds the bodies routes parse themselves, bearer auth, and drops FastAPI's default 422
(validation failures are answered 400 here).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Path
from pydantic import BaseModel

from chatloom.api.schemas.responses_out import ErrorBody, OpenAIErrorBody

ERROR_DESCRIPTIONS = {
    400: "The request is invalid; `message` names each offending field.",
    401: "Missing or invalid API key (`Authorization: Bearer <key>`).",
    404: "A record named by the path or the body does not exist (or belongs to another org).",
    409: "The session is busy with another chat for longer than the server waits.",
    403: "The public key may not be used from this origin or with this assistant.",
    413: "The request body is larger than the server accepts.",
    429: "Rate limited (web chat's per-key limit, or the model provider); retry after `Retry-After` seconds.",
    500: "An unexpected server error.",
    502: "The model provider failed or answered something unusable.",
    504: "The model provider did not answer in time.",
}

COMMON = (400, 401, 500)
"""Every authenticated route can answer these."""

WITH_BODY = (413,)
WITH_ID = (404,)
TURN = (404, 409, 413, 429, 502, 504)
"""A chat turn: ids in the body, the session lease, the body, usage limits and the model provider."""

WEB_TURN = (*TURN, 403, 429)
"""A web chat turn: a turn, plus the public key's origin/assistant limits and its rate limit."""

SSE_ALTERNATIVE = "text/event-stream"


def sse_events(description: str, *payloads: str, done: bool = False, named: bool = False) -> dict[str, Any]:
    """The schema of one server-sent event whose `data` is JSON of one of the `payloads` schemas (by
    component name), or the literal `[DONE]` when `done`; `named` events also carry `event:`."""
    json_data: dict[str, Any] = {
        "type": "string",
        "contentMediaType": "application/json",
        "contentSchema": {"anyOf": [{"$ref": f"#/components/schemas/{name}"} for name in payloads]},
    }
    data = {"anyOf": [{"const": "[DONE]"}, json_data]} if done else json_data
    properties: dict[str, Any] = {"data": data}
    if named:
        properties["event"] = {"type": "string"}
    return {
        "type": "object",
        "description": description,
        "properties": properties,
        "required": ["data", "event"] if named else ["data"],
    }


def answers(
    status: int,
    model: type[BaseModel] | Any,
    description: str,
    *errors: int,
    openai: bool = False,
    stream: dict[str, Any] | None = None,
) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route: its 2xx `model`, then each error status with the error body that
    route sends (OpenAI's envelope when `openai`). `stream` is the `sse_events` schema of the
    `text/event-stream` answer given instead of the JSON one when the client asks for streaming."""
    success: dict[str, Any] = {"model": model, "description": description}
    if stream is not None:
        success["content"] = {SSE_ALTERNATIVE: {"schema": stream}}
    declared: dict[int | str, dict[str, Any]] = {status: success}
    body = OpenAIErrorBody if openai else ErrorBody
    for code in sorted({*COMMON, *errors}):
        declared[code] = {"model": body, "description": ERROR_DESCRIPTIONS[code]}
    return declared


def finish_document(app: FastAPI, body_schemas: tuple[type[BaseModel], ...], public_paths: set[str]) -> None:
    """Replaces `app.openapi` with a builder that adds `body_schemas` (request bodies and stream
    payloads, by class name) and bearer auth (not on `public_paths`), and removes the 422 answers and
    schemas FastAPI adds by default."""
    build_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build_openapi()
        components = document.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        for model in body_schemas:
            schema = model.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
            schemas.update(schema.pop("$defs", {}))
            schemas[model.__name__] = schema
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        document["security"] = [{"bearer": []}]
        for path, operations in document.get("paths", {}).items():
            for operation in operations.values():
                operation.get("responses", {}).pop("422", None)
                if path in public_paths:
                    operation["security"] = []
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


PathId = Annotated[str, Path(alias="id", description="The record's id.")]
"""The `{id}` path parameter of every record route (Vapi's name for it)."""
