"""The access log and request metrics as one pure ASGI middleware: one line and one count per request.

It logs the route's path template (never the raw path or query), the status, the duration, the request id
and the caller's org; never headers or bodies. It sits just outside `RequestGuard`, whose id and 500s it
sees. An event stream counts as open from its first
byte to its end.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chatloom.observability.hooks import Observer

log = logging.getLogger("chatloom.access")
UNMATCHED = "unmatched"
"""The route label of requests no route matched (their raw paths would make labels unbounded)."""


def route_of(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


class AccessLog:
    def __init__(self, app: ASGIApp, observer: Observer, enabled: bool = True) -> None:
        self.app = app
        self.observer = observer
        self.enabled = enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not (self.enabled or self.observer.enabled or self.observer.tracing):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        streaming = False
        observer = self.observer

        async def send_and_watch(message: Message) -> None:
            nonlocal status, streaming
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", ()):
                    if name == b"content-type" and value.startswith(b"text/event-stream"):
                        streaming = True
                        observer.stream_opened()
            await send(message)

        tracing = observer.tracing
        span: Any = None
        token: Any = None
        if tracing is not None:
            span = tracing.start("HTTP", {"http.request.method": scope["method"]}, kind=tracing.SERVER)
            token = tracing.activate(span)
        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            if streaming:
                observer.stream_closed()
            seconds = time.perf_counter() - started
            state = scope.get("state") or {}
            org_id = str(state.get("org_id", ""))
            route = route_of(scope)
            method = scope["method"]
            observer.request_served(method, route, status, seconds, org_id)
            if tracing is not None:
                span.update_name(f"{method} {route}")
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                span.set_attribute("chatloom.request_id", str(state.get("request_id", "")))
                if status >= 500:
                    tracing.failed(span, f"HTTP {status}")
                span.end()
                tracing.deactivate(token)
            if self.enabled and log.isEnabledFor(logging.INFO):
                request_id = str(state.get("request_id", ""))
                duration_ms = round(seconds * 1000, 2)
                log.info(
                    "%s %s %d %.2fms request=%s org=%s",
                    method,
                    route,
                    status,
                    duration_ms,
                    request_id,
                    org_id or "-",
                    extra={
                        "method": method,
                        "route": route,
                        "status": status,
                        "duration_ms": duration_ms,
                        "request_id": request_id,
                        "org_id": org_id,
                    },
                )
