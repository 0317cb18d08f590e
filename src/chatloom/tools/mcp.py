"""`mcp` tools: the tools an MCP server offers, listed and called through the official `mcp` SDK over
Streamable HTTP (`metadata.protocol: "shttp"`, the default) or SSE (`"sse"`).

Each listing and each call opens its own short MCP connection (guarded like every outbound request),
bounded by `server.timeoutSeconds`. Listings are cached per org and server (URL, protocol and headers)
for `cache_seconds`, watched meanwhile through a `subscriptions/listen` stream where the server has one;
a tool-list change there, or a `notifications/tools/list_changed` seen on any connection, drops the
entry. Failures never raise: a listing reports its error, a call becomes an error result the model sees.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chatloom.domain.errors import OutboundUrlRefused
from chatloom.domain.messages import ToolCall
from chatloom.outbound.guard import OutboundPolicy
from chatloom.outbound.vapi_server import server_timeout
from chatloom.tools.calls import ToolResult, arguments_of, error_result
from chatloom.tools.mcp_values import McpTarget, McpToolSpec

if TYPE_CHECKING:
    from chatloom.tools.mcp_session import McpSession

log = logging.getLogger("chatloom.mcp")

MAX_TOOLS_PER_SERVER = 128
MAX_LISTING_PAGES = 10
MAX_CACHED_SERVERS = 1024
MAX_WATCHED_SERVERS = 256
"""Most list-changed subscriptions held open at once (one connection each)."""

CredentialHeaders = Callable[[str, Mapping[str, Any]], Awaitable[Mapping[str, str]]]
"""`(org_id, server) -> headers`: what a stored credential (`server.credentialId`) adds to the request,
e.g. `Authorization`. Headers written in `server.headers` win over a credential's."""


@dataclass(slots=True)
class McpListing:
    tools: list[McpToolSpec] = field(default_factory=list)
    error: str | None = None
    """Why the server could not be listed (it then offers no tools)."""


def protocol_of(tool: Mapping[str, Any]) -> str:
    metadata = tool.get("metadata")
    protocol = metadata.get("protocol") if isinstance(metadata, dict) else None
    return "sse" if protocol == "sse" else "shttp"


class McpClient:
    def __init__(
        self,
        policy: OutboundPolicy,
        cache_seconds: float = 60.0,
        credential_headers: CredentialHeaders | None = None,
    ) -> None:
        self.policy = policy
        self.cache_seconds = cache_seconds
        self.credential_headers = credential_headers
        self._listings: dict[str, tuple[float, list[McpToolSpec]]] = {}
        self._listing_now: dict[str, asyncio.Future[list[McpToolSpec]]] = {}
        """Listings under way: turns that need the same server meanwhile wait for the same answer."""
        self._watchers: dict[str, asyncio.Task[None]] = {}
        """Per cached listing: a subscription to the server's list-changed events, for as long as the
        listing is kept."""
        self.listing_failures = 0
        """Listings that failed since start (a server that offered no tools to a turn)."""

    async def _target(self, org_id: str, tool: Mapping[str, Any]) -> McpTarget:
        given = tool.get("server")
        server: Mapping[str, Any] = given if isinstance(given, dict) else {}
        url = str(server.get("url") or "")
        self.policy.check_url(url, "server.url")
        headers: dict[str, str] = {}
        if self.credential_headers is not None:
            headers.update(await self.credential_headers(org_id, server))
        given_headers = server.get("headers")
        if isinstance(given_headers, dict):
            headers.update({str(k): str(v) for k, v in given_headers.items() if v is not None})
        return McpTarget(url, protocol_of(tool), headers, server_timeout(server))

    async def list_tools(self, org_id: str, tool: Mapping[str, Any]) -> McpListing:
        """The tools the `mcp` tool's server offers (cached); never raises."""
        try:
            target = await self._target(org_id, tool)
        except OutboundUrlRefused as refused:
            return self._failed_listing(str(refused.message))
        key = target.cache_key(org_id)
        cached = self._listings.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return McpListing(cached[1])
        pending = self._listing_now.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._fetch_listing(target, key))
            self._listing_now[key] = pending
            pending.add_done_callback(lambda done: self._listing_done(key, done))
        try:
            # Shielded: one turn giving up (its client left) does not cancel the others' listing.
            specs = await asyncio.shield(pending)
        except Exception as error:
            return self._failed_listing(_describe(error, target))
        return McpListing(specs)

    def _listing_done(self, key: str, done: asyncio.Future[list[McpToolSpec]]) -> None:
        self._listing_now.pop(key, None)
        if not done.cancelled():
            done.exception()  # retrieved here too, in case every turn waiting for it has gone

    async def _fetch_listing(self, target: McpTarget, key: str) -> list[McpToolSpec]:
        async with asyncio.timeout(target.timeout_seconds):
            async with self._connect(target, key) as session:
                specs = await session.list_tools(MAX_TOOLS_PER_SERVER, MAX_LISTING_PAGES)
        if len(self._listings) >= MAX_CACHED_SERVERS:
            self._listings.pop(next(iter(self._listings)))
        self._listings[key] = (time.monotonic() + self.cache_seconds, specs)
        self._watch(target, key)
        return specs

    def _watch(self, target: McpTarget, key: str) -> None:
        if self.cache_seconds <= 0 or key in self._watchers or len(self._watchers) >= MAX_WATCHED_SERVERS:
            return
        task = asyncio.create_task(self._watch_while_cached(target, key))
        self._watchers[key] = task
        task.add_done_callback(lambda _done: self._watchers.pop(key, None))

    async def _watch_while_cached(self, target: McpTarget, key: str) -> None:
        from chatloom.tools import mcp_session

        def tools_changed() -> None:
            self._listings.pop(key, None)

        try:
            async with asyncio.timeout(self.cache_seconds):
                await mcp_session.watch_tools(self.policy, target, tools_changed)
        except Exception as error:
            # Servers of older protocol versions cannot be watched: their listing simply expires.
            log.debug("not watching an MCP server's tools: %s", type(error).__name__)

    async def aclose(self) -> None:
        """Ends the list-changed subscriptions (at shutdown)."""
        watchers = list(self._watchers.values())
        for task in watchers:
            task.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)

    def _failed_listing(self, reason: str) -> McpListing:
        self.listing_failures += 1
        log.warning("an MCP server could not be listed: %s", reason)
        return McpListing(error=reason)

    async def call_tool(self, org_id: str, tool: Mapping[str, Any], name: str, call: ToolCall) -> ToolResult:
        """Calls `name` on the `mcp` tool's server with the model's arguments; failures become error
        results."""
        try:
            target = await self._target(org_id, tool)
        except OutboundUrlRefused as refused:
            return error_result(call, f"the MCP server URL was refused: {refused.message!s}")
        try:
            async with asyncio.timeout(target.timeout_seconds):
                async with self._connect(target, target.cache_key(org_id)) as session:
                    failed, text = await session.call_tool(name, arguments_of(call))
        except Exception as error:
            return error_result(call, f"the MCP tool '{name}' failed: {_describe(error, target)}")
        return error_result(call, text) if failed else ToolResult(call, text)

    def _connect(self, target: McpTarget, key: str) -> AbstractAsyncContextManager[McpSession]:
        from chatloom.tools import mcp_session  # the SDK is imported on first use: it is large

        def tools_changed() -> None:
            self._listings.pop(key, None)

        return mcp_session.connect(self.policy, target, tools_changed)

    def forget(self) -> None:
        self._listings.clear()


def _describe(error: BaseException, target: McpTarget) -> str:
    from chatloom.tools import mcp_session

    return mcp_session.describe(error, target.url, target.timeout_seconds)
