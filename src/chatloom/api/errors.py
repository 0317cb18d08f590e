"""Maps domain and validation errors to Vapi's error body `{"message", "error", "statusCode"}`.

This is the only place that decides HTTP statuses for domain errors. Validation messages name the
offending field by its wire name (`input[0].role`, `assistant.model.provider`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from chatloom.domain.errors import (
    ChatloomError,
    Forbidden,
    InvalidRequest,
    LimitsUnavailable,
    NotFound,
    RateLimited,
    SessionBusy,
    TooLarge,
    Unauthorized,
    UpstreamError,
    UpstreamTimeout,
)

log = logging.getLogger("chatloom.api")

_TYPE_TAGS = ("str", "int", "float", "bool", "dict", "list", "none", "literal")


class PayloadTooLarge(ChatloomError):
    """The request body is over the configured limit (HTTP 413)."""


def status_of(error: Exception) -> int:
    """The HTTP status for an error. A provider's 4xx is the caller's problem (400, with the provider's
    message); its 429 is reported as 429 here, which Vapi routes answer as 502 (see `vapi_status`)."""
    if isinstance(error, InvalidRequest):
        return 400
    if isinstance(error, Unauthorized):
        return 401
    if isinstance(error, Forbidden):
        return 403
    if isinstance(error, RateLimited):
        return 429
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, SessionBusy):
        return 409
    if isinstance(error, PayloadTooLarge | TooLarge):
        return 413
    if isinstance(error, UpstreamTimeout):
        return 504
    if isinstance(error, LimitsUnavailable):
        return 503
    if isinstance(error, UpstreamError) and error.status is not None and 400 <= error.status < 500:
        return 429 if error.status == 429 else 400
    if isinstance(error, UpstreamError):
        return 502
    return 500


def _is_type_tag(part: str | int) -> bool:
    return isinstance(part, str) and (
        "[" in part or part in _TYPE_TAGS or part.startswith("function-") or part.startswith("constrained-")
    )


def _field_path(loc: tuple[str | int, ...]) -> str:
    path = ""
    for part in loc:
        if _is_type_tag(part):
            continue
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path


_TYPE_ERRORS = frozenset(("string_type", "list_type", "dict_type", "model_type", "int_type", "bool_type"))


def validation_messages(errors: list[Any], prefix: str = "") -> list[str]:
    """Readable, de-duplicated messages naming each field, e.g. `input[0].role: Input should be ...`.

    For a field that accepts several shapes (`input`: string or array) the branch that does not apply
    is dropped when the other one has a real complaint; otherwise the accepted shapes are listed once.
    """
    by_path: dict[str, list[tuple[bool, str]]] = {}
    for error in errors:
        loc = tuple(p for p in error["loc"] if p not in ("body", "query", "path"))
        path = _field_path(loc)
        if prefix:
            path = f"{prefix}.{path}" if path else prefix
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "property should not exist"
        is_branch_type = error["type"] in _TYPE_ERRORS and any(_is_type_tag(p) for p in loc)
        by_path.setdefault(path, []).append((is_branch_type, message))
    messages: list[str] = []
    for path, found in by_path.items():
        real = [message for is_type, message in found if not is_type]
        shapes = [message for is_type, message in found if is_type]
        texts = real if real else [" or ".join(dict.fromkeys(shapes))]
        for text in texts:
            line = f"{path}: {text}" if path else text
            if line not in messages:
                messages.append(line)
    return messages or ["invalid request"]


OPENAI_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}
OPENAI_ERROR_CODES = {
    401: "invalid_api_key",
    404: "not_found",
    502: "upstream_error",
    504: "upstream_timeout",
}
OPENAI_PATHS = ("/chat/responses", "/chat/web/responses", "/chat/conversations")


def error_envelope(status: int, message: str | list[str], param: str | None = None) -> dict[str, Any]:
    """OpenAI's error body (so the OpenAI SDK raises the right class with the message), plus Vapi's
    top-level `message`/`statusCode` for Vapi clients."""
    text = message if isinstance(message, str) else "; ".join(message)
    kind = OPENAI_ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {
        "error": {"message": text, "type": kind, "param": param, "code": OPENAI_ERROR_CODES.get(status)},
        "message": message,
        "statusCode": status,
    }


def vapi_status(error: Exception) -> int:
    """Vapi routes answer a provider's rate limit as any upstream failure: 502 (this server's own limits
    stay 429)."""
    status = status_of(error)
    return 502 if status == 429 and isinstance(error, UpstreamError) else status


def retry_after_headers(error: Exception) -> dict[str, str] | None:
    """`Retry-After` for this server's rate limits (and, to OpenAI clients, a provider's)."""
    if isinstance(error, RateLimited):
        return {"retry-after": str(error.retry_after_seconds)}
    return None


def error_envelope_of(error: Exception) -> tuple[int, dict[str, Any]]:
    """The status and OpenAI envelope for an error. A provider's 429 stays a 429 here, so OpenAI clients
    back off and retry as they do against OpenAI."""
    status = status_of(error)
    if status == 500 or not isinstance(error, ChatloomError):
        return 500, error_envelope(500, "Internal server error")
    param = error.field if isinstance(error, InvalidRequest) else None
    return status, error_envelope(status, error.message, param)


def first_field(errors: list[Any], prefix: str = "") -> str | None:
    """The wire path of the first invalid field (OpenAI's `param`), if the error names one."""
    for error in errors:
        loc = tuple(p for p in error["loc"] if p not in ("body", "query", "path"))
        path = _field_path(loc)
        if path or prefix:
            return f"{prefix}.{path}" if prefix and path else (path or prefix)
    return None


def error_body(status: int, message: str | list[str]) -> dict[str, Any]:
    return {"message": message, "error": HTTPStatus(status).phrase, "statusCode": status}


def error_response(
    status: int, message: str | list[str], headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(error_body(status, message)),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def domain_error_response(error: Exception, openai: bool = False) -> Response:
    status = status_of(error)
    if status == 500:
        log.error("unhandled error", exc_info=error)
    if openai:
        status, envelope = error_envelope_of(error)
        headers = retry_after_headers(error)
        if isinstance(error, UpstreamError) and error.retry_after is not None and status == 429:
            headers = {"retry-after": str(max(1, round(error.retry_after)))}
        return Response(
            orjson.dumps(envelope), status_code=status, media_type="application/json", headers=headers
        )
    if status == 500:
        return error_response(500, "Internal server error")
    message = error.message if isinstance(error, ChatloomError) else str(error)
    return error_response(vapi_status(error), message, headers=retry_after_headers(error))


def _openai(request: Request) -> bool:
    return request.url.path.startswith(OPENAI_PATHS)


def install_error_handlers(app: FastAPI) -> None:
    """Vapi's error body everywhere, OpenAI's envelope (with Vapi's fields) under /chat/responses and
    /chat/web/responses."""

    async def on_domain_error(request: Request, exc: Exception) -> Response:
        return domain_error_response(exc, _openai(request))

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError | ValidationError)
        errors = list(exc.errors())
        error = InvalidRequest(validation_messages(errors), field=first_field(errors))
        return domain_error_response(error, _openai(request))

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if _openai(request):
            body = error_envelope(exc.status_code, str(exc.detail))
            return Response(orjson.dumps(body), status_code=exc.status_code, media_type="application/json")
        return error_response(exc.status_code, str(exc.detail), headers=exc.headers)

    app.add_exception_handler(ChatloomError, on_domain_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(ValidationError, on_validation_error)
    app.add_exception_handler(HTTPException, on_http_error)
    # Other exceptions are answered by `RequestGuard`, outside Starlette's error middleware, which would
    # re-raise them to the server after answering (a second log entry and a dropped connection).
