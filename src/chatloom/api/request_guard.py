"""The outermost ASGI layer: a request id on every request and response, NUL characters in the path or
query refused with a 400, and any unexpected exception answered once, as Vapi's 500 body.

An unexpected exception is logged once, with the request id, and answered normally: it never reaches the
server, which would log it again and drop the client's keep-alive connection.
"""

from __future__ import annotations

import logging
import re
import uuid
from urllib.parse import parse_qsl

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chatloom.api.errors import OPENAI_PATHS, error_body, error_envelope
from chatloom.observability.request_ids import current_request_id

log = logging.getLogger("chatloom.api")

REQUEST_ID_HEADER = b"x-request-id"
_ACCEPTED_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")


def request_id_of(scope: Scope) -> str:
    """The id of the request being served (set by `RequestGuard`)."""
    state = scope.get("state") or {}
    return str(state.get("request_id", ""))


def _incoming_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER and _ACCEPTED_ID.fullmatch(value):
            return str(value.decode())
    return uuid.uuid4().hex


def _nul_problem(scope: Scope) -> tuple[str, str] | None:
    """The field and message for a NUL character in the path or the query string, if there is one."""
    if "\x00" in scope["path"]:
        return "path", "path: must not contain NUL characters"
    query: bytes = scope.get("query_string", b"")
    if b"%00" not in query and b"\x00" not in query:
        return None
    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            field = name.replace("\x00", "") or "query"
            return field, f"{field}: must not contain NUL characters"
    return None


class RequestGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        current_request_id.set(request_id)  # webhooks sent while serving it carry it too
        header = (REQUEST_ID_HEADER, request_id.encode())
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        problem = _nul_problem(scope)
        if problem is not None:
            await self._answer(scope, send_with_id, 400, problem[1], problem[0])
            return
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception(
                "unexpected error answering %s %s (request %s)", scope["method"], scope["path"], request_id
            )
            if not started:
                await self._answer(scope, send_with_id, 500, "Internal server error")

    @staticmethod
    async def _answer(scope: Scope, send: Send, status: int, message: str, field: str | None = None) -> None:
        if scope["path"].startswith(OPENAI_PATHS):
            body = orjson.dumps(error_envelope(status, message, field))
        else:
            body = orjson.dumps(error_body(status, message))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
