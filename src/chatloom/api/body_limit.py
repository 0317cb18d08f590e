"""Request bodies bounded before they are read into memory: `CHATLOOM_MAX_BODY_BYTES` (1 MiB) everywhere,
except the two turn routes of private keys, `POST /chat` and `POST /chat/responses`, which take images and
files inline and so accept `CHATLOOM_MAX_TURN_BODY_BYTES` (36 MiB: 25 MB of attachments, base64-encoded).
Web chat (public keys) keeps the small bound. `POST /file` (multipart uploads) accepts
`CHATLOOM_MAX_FILE_BYTES` and `UPLOAD_OVERHEAD_BYTES` for the other parts and the multipart framing; the
route itself refuses a file part over `CHATLOOM_MAX_FILE_BYTES`. Past a limit: 413, in the route's error
shape, as soon as the bytes received pass it (or at once, when `Content-Length` says so)."""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chatloom.api.errors import OPENAI_PATHS, error_body, error_envelope

TURN_PATHS = frozenset(("/chat", "/chat/", "/chat/responses", "/chat/responses/"))
UPLOAD_PATHS = frozenset(("/file", "/file/"))
UPLOAD_OVERHEAD_BYTES = 64 * 1024
"""An upload's body besides the file: `purpose`, `metadata` (4 KiB at most) and the multipart headers."""


class _BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    """Refuses request bodies over the path's limit with 413, before they are read into memory."""

    def __init__(
        self, app: ASGIApp, limit: int, turn_limit: int | None = None, file_limit: int | None = None
    ) -> None:
        self.app = app
        self.limit = limit
        self.turn_limit = max(limit, turn_limit or limit)
        self.upload_limit = max(limit, (file_limit or 0) + UPLOAD_OVERHEAD_BYTES)

    def limit_for(self, scope: Scope) -> int:
        if scope.get("method") == "POST" and scope.get("path") in TURN_PATHS:
            return self.turn_limit
        if scope.get("method") == "POST" and scope.get("path") in UPLOAD_PATHS:
            return self.upload_limit
        return self.limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and (len(value) > 18 or int(value) > limit):
                await self._refuse(scope, send, limit)
                return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLarge:
            await self._refuse(scope, send, limit)

    async def _refuse(self, scope: Scope, send: Send, limit: int) -> None:
        message = f"request body is larger than {limit} bytes"
        openai = str(scope.get("path", "")).startswith(OPENAI_PATHS)
        body = orjson.dumps(error_envelope(413, message) if openai else error_body(413, message))
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
