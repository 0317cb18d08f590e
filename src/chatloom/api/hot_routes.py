"""The turn routes answered without FastAPI's router and dependency solver.

Matching a path against every included router and solving a route's dependencies costs about a quarter
of a chat turn's own CPU. The routes every turn takes (`POST /chat`, `/chat/responses`, `/chat/web`,
`/chat/web/responses`) are looked up here by method and exact path, and their handlers call the same
authentication functions the dependencies call, then the turn endpoint (`api/turn_endpoint.py`) the
routes call. Everything else, and these paths with any other method, goes through FastAPI's router.

The dispatcher sits where the router does, inside every middleware and the exception handlers, so a
hot route's errors, headers, access-log line and metrics are exactly those of the routed request. The
routes stay declared in FastAPI for the OpenAPI document (and answer a request this table misses).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from chatloom.api import turn_endpoint
from chatloom.api.deps import caller_org, services_of, web_caller
from chatloom.api.rate_limits import web_turn_caller

Handler = Callable[[Request], Awaitable[Response]]
"""Authenticates the request as the route's dependencies would, then answers it."""


async def _chat(request: Request) -> Response:
    return await turn_endpoint.create_chat(request, await caller_org(request), services_of(request))


async def _response(request: Request) -> Response:
    return await turn_endpoint.create_response(request, await caller_org(request), services_of(request))


async def _web_chat(request: Request) -> Response:
    caller = await web_turn_caller(request, await web_caller(request))  # what `WebCaller` resolves to
    return await turn_endpoint.create_web_chat(request, caller, services_of(request))


async def _web_response(request: Request) -> Response:
    caller = await web_turn_caller(request, await web_caller(request))
    return await turn_endpoint.create_web_response(request, caller, services_of(request))


TURN_ROUTES: Mapping[tuple[str, str], Handler] = {
    ("POST", "/chat"): _chat,
    ("POST", "/chat/responses"): _response,
    ("POST", "/chat/web"): _web_chat,
    ("POST", "/chat/web/responses"): _web_response,
}
"""The routes every turn takes, each with its route's dependencies resolved in line."""


class HotRoutes:
    def __init__(self, app: ASGIApp, routes: Mapping[tuple[str, str], tuple[BaseRoute, Handler]]) -> None:
        self.app = app
        self.routes = dict(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self.routes.get((scope.get("method", ""), scope["path"])) if scope["type"] == "http" else None
        if found is None:
            await self.app(scope, receive, send)
            return
        route, handler = found
        scope["route"] = route  # what the access log and the metrics name the request by
        scope["endpoint"] = getattr(route, "endpoint", None)
        response = await handler(Request(scope, receive, send))
        await response(scope, receive, send)


def install(app: FastAPI, handlers: Mapping[tuple[str, str], Handler]) -> None:
    """Puts `handlers` in front of the app's router; each must match a declared route."""
    table: dict[tuple[str, str], tuple[BaseRoute, Handler]] = {}
    for (method, path), handler in handlers.items():
        route = _declared(app, method, path)
        table[(method, path)] = (route, handler)
    router = app.router
    router.middleware_stack = HotRoutes(router.middleware_stack, table)


def _declared(app: FastAPI, method: str, path: str) -> BaseRoute:
    for route in _all_routes(app.router.routes):
        methods = getattr(route, "methods", None) or ()
        if getattr(route, "path", None) == path and method in methods:
            return route
    raise LookupError(f"no declared route {method} {path}")


def _all_routes(routes: list[BaseRoute]) -> list[BaseRoute]:
    found: list[BaseRoute] = []
    for route in routes:
        found.append(route)
        included = getattr(route, "original_router", None)  # a router included without a prefix
        if included is not None:
            found.extend(_all_routes(included.routes))
    return found
