"""CORS: web chat (`/chat/web*`) answers pages on every origin, the private API only the origins in
`CHATLOOM_CORS_ORIGINS` (none by default).

Web chat's headers go on every response, refusals (401/403/429) included: without them a page sees an
opaque network error instead of the status, and the widget retries forever. A preflight carries no key,
so it succeeds for any origin; the key's own origin list is enforced on the real request. Headers are
added to the response start only, so streamed responses are never buffered.
"""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

WEB_CHAT_PATHS = ("/chat/web", "/chat/web/responses")
PRIVATE_ALLOWED_HEADERS = ["Authorization", "Content-Type", "X-Client-ID"]
EXPOSED_HEADERS = ["Retry-After"]
PREFLIGHT_MAX_AGE = 600

# Web chat answers every origin with fixed headers: no cookies are involved (the key is in Authorization),
# so `*` is right and nothing depends on the request. They are appended as bytes, the cheapest way.
WEB_CHAT_HEADERS = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-expose-headers", b"Retry-After"),
]
WEB_CHAT_PREFLIGHT = [
    *WEB_CHAT_HEADERS,
    (b"access-control-allow-methods", b"POST, OPTIONS"),
    (b"access-control-allow-headers", b"Authorization, Content-Type, X-Client-ID"),
    (b"access-control-max-age", str(PREFLIGHT_MAX_AGE).encode()),
    (b"content-length", b"0"),
]


class CorsPolicy:
    def __init__(self, app: ASGIApp, private_origins: list[str]) -> None:
        self.app = app
        self.private: ASGIApp = (
            CORSMiddleware(
                app,
                allow_origins=private_origins,
                allow_methods=["GET", "POST", "PATCH", "DELETE"],
                allow_headers=PRIVATE_ALLOWED_HEADERS,
                expose_headers=EXPOSED_HEADERS,
                max_age=PREFLIGHT_MAX_AGE,
            )
            if private_origins
            else app
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].rstrip("/") in WEB_CHAT_PATHS:
            await self._web_chat(scope, receive, send)
        else:
            await self.private(scope, receive, send)

    async def _web_chat(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] == "OPTIONS":
            await send({"type": "http.response.start", "status": 204, "headers": WEB_CHAT_PREFLIGHT})
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *WEB_CHAT_HEADERS]}
            await send(message)

        await self.app(scope, receive, send_with_cors)
