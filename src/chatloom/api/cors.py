"""CORS: web chat (`/chat/web*`) answers pages on every origin, the private API only the origins in
`CHATLOOM_CORS_ORIGINS` (none by default).

Web chat's headers go on every response, refusals (401/403/429) included: without them a page sees an
opaque network error instead of the status, and the widget retries forever. A preflight carries no key,
so it succeeds for any origin; the key's own origin list is enforced on the real request. Headers are
added to the response start only, so streamed responses are never buffered.
"""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

WEB_CHAT_PATHS = ("/chat/web", "/chat/web/responses")
WEB_CHAT_HEADERS = ["Authorization", "Content-Type", "X-Client-ID"]
EXPOSED_HEADERS = ["Retry-After"]
PREFLIGHT_MAX_AGE = 600


class CorsPolicy:
    def __init__(self, app: ASGIApp, private_origins: list[str]) -> None:
        self.app = app
        self.web_chat = CORSMiddleware(
            app,
            allow_origins=["*"],
            allow_methods=["POST"],
            allow_headers=WEB_CHAT_HEADERS,
            expose_headers=EXPOSED_HEADERS,
            max_age=PREFLIGHT_MAX_AGE,
        )
        self.private: ASGIApp = (
            CORSMiddleware(
                app,
                allow_origins=private_origins,
                allow_methods=["GET", "POST", "PATCH", "DELETE"],
                allow_headers=WEB_CHAT_HEADERS,
                expose_headers=EXPOSED_HEADERS,
                max_age=PREFLIGHT_MAX_AGE,
            )
            if private_origins
            else app
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].rstrip("/") in WEB_CHAT_PATHS:
            await self.web_chat(scope, receive, send)
        else:
            await self.private(scope, receive, send)
