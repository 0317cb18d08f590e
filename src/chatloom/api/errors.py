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
    InvalidRequest,
    NotFound,
    SessionBusy,
    Unauthorized,
    UpstreamError,
    UpstreamTimeout,
)

log = logging.getLogger("chatloom.api")

_TYPE_TAGS = ("str", "int", "float", "bool", "dict", "list", "none", "literal")


class PayloadTooLarge(ChatloomError):
    """The request body is over the configured limit (HTTP 413)."""


def status_of(error: Exception) -> int:
    if isinstance(error, InvalidRequest):
        return 400
    if isinstance(error, Unauthorized):
        return 401
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, SessionBusy):
        return 409
    if isinstance(error, PayloadTooLarge):
        return 413
    if isinstance(error, UpstreamTimeout):
        return 504
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


def domain_error_response(error: Exception) -> Response:
    status = status_of(error)
    if status == 500:
        log.exception("unhandled error", exc_info=error)
        return error_response(500, "Internal server error")
    message = error.message if isinstance(error, ChatloomError) else str(error)
    return error_response(status, message)


def install_error_handlers(app: FastAPI) -> None:
    async def on_domain_error(_request: Request, exc: Exception) -> Response:
        return domain_error_response(exc)

    async def on_validation_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError | ValidationError)
        return error_response(400, validation_messages(list(exc.errors())))

    async def on_http_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return error_response(exc.status_code, str(exc.detail), headers=exc.headers)

    async def on_unexpected(_request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", exc_info=exc)
        return error_response(500, "Internal server error")

    app.add_exception_handler(ChatloomError, on_domain_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(ValidationError, on_validation_error)
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)
