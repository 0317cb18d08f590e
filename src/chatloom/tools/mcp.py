"""`mcp` tools: the tools an MCP server offers, listed and called through the official `mcp` SDK over
Streamable HTTP (`metadata.protocol: "shttp"`, the default) or SSE (`"sse"`).

Each listing and each call opens its own short MCP connection (guarded like every outbound request),
bounded by `server.timeoutSeconds`. Listings are cached per server (URL, protocol and headers) for
`cache_seconds`; a `notifications/tools/list_changed` seen on any connection drops the entry. Failures
never raise: a listing reports its error, a call becomes an error result the model sees.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx2
import mcp_types
import orjson
from mcp.client import Client, Transport
from mcp.client.session import IncomingMessage
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from chatloom.domain.errors import OutboundUrlRefused
from chatloom.domain.messages import ToolCall
from chatloom.outbound.guard import OutboundPolicy
from chatloom.outbound.guarded_httpx import guarded_client
from chatloom.outbound.http import origin
from chatloom.tools.calls import ToolResult, arguments_of, as_text, error_result

log = logging.getLogger("chatloom.mcp")
# httpx2 logs each request's full URL at INFO; a URL may carry a token.
logging.getLogger("httpx2").setLevel(logging.WARNING)

DEFAULT_TIMEOUT_SECONDS = 20.0
MAX_TOOLS_PER_SERVER = 128
MAX_LISTING_PAGES = 10
MAX_CACHED_SERVERS = 1024

CredentialHeaders = Callable[[str, Mapping[str, Any]], Awaitable[Mapping[str, str]]]
"""`(org_id, server) -> headers`: what a stored credential (`server.credentialId`) adds to the request,
e.g. `Authorization`. Headers written in `server.headers` win over a credential's."""


@dataclass(frozen=True, slots=True)
class McpToolSpec:
    name: str
    description: str | None
    input_schema: dict[str, Any]


@dataclass(slots=True)
class McpListing:
    tools: list[McpToolSpec] = field(default_factory=list)
    error: str | None = None
    """Why the server could not be listed (it then offers no tools)."""


@dataclass(frozen=True, slots=True)
class _Target:
    url: str
    protocol: str
    headers: dict[str, str]
    timeout_seconds: float

    def cache_key(self, org_id: str) -> str:
        # Headers may hold credentials: the key keeps only a digest of them.
        digest = hashlib.sha256(orjson.dumps(self.headers, option=orjson.OPT_SORT_KEYS)).hexdigest()
        return f"{org_id} {self.protocol} {self.url} {digest}"


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
        self.listing_failures = 0
        """Listings that failed since start (a server that offered no tools to a turn)."""

    async def _target(self, org_id: str, tool: Mapping[str, Any]) -> _Target:
        given = tool.get("server")
        server: Mapping[str, Any] = given if isinstance(given, dict) else {}
        url = str(server.get("url") or "")
        self.policy.check_url(url, "server.url")
        headers: dict[str, str] = {}
        if self.credential_headers is not None:
            headers.update(await self.credential_headers(org_id, server))
        headers.update({str(k): str(v) for k, v in (server.get("headers") or {}).items() if v is not None})
        timeout = float(server.get("timeoutSeconds") or DEFAULT_TIMEOUT_SECONDS)
        return _Target(url, protocol_of(tool), headers, timeout)

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
        try:
            async with asyncio.timeout(target.timeout_seconds):
                async with self._connect(target, key) as client:
                    specs = await _all_tools(client)
        except Exception as error:
            return self._failed_listing(describe(error, target))
        if len(self._listings) >= MAX_CACHED_SERVERS:
            self._listings.pop(next(iter(self._listings)))
        self._listings[key] = (time.monotonic() + self.cache_seconds, specs)
        return McpListing(specs)

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
                async with self._connect(target, target.cache_key(org_id)) as client:
                    result = await client.call_tool(name, arguments_of(call))
        except Exception as error:
            return error_result(call, f"the MCP tool '{name}' failed: {describe(error, target)}")
        text = result_text(result)
        return error_result(call, text) if result.is_error else ToolResult(call, text)

    @asynccontextmanager
    async def _connect(self, target: _Target, key: str) -> AsyncIterator[Client]:
        async def on_message(message: IncomingMessage) -> None:
            if isinstance(message, mcp_types.ToolListChangedNotification):
                self._listings.pop(key, None)

        def factory(
            headers: dict[str, str] | None = None,
            timeout: httpx2.Timeout | None = None,
            auth: httpx2.Auth | None = None,
        ) -> httpx2.AsyncClient:
            return guarded_client(self.policy, headers, timeout, auth)

        async with AsyncExitStack() as stack:
            if target.protocol == "sse":
                transport: Transport = sse_client(
                    target.url,
                    headers=target.headers,
                    timeout=target.timeout_seconds,
                    sse_read_timeout=target.timeout_seconds,
                    httpx_client_factory=factory,
                )
            else:
                http = await stack.enter_async_context(
                    factory(target.headers, httpx2.Timeout(target.timeout_seconds))
                )
                transport = streamable_http_client(target.url, http_client=http)
            yield await stack.enter_async_context(Client(transport, message_handler=on_message, cache=None))

    def forget(self) -> None:
        self._listings.clear()


async def _all_tools(client: Client) -> list[McpToolSpec]:
    specs: list[McpToolSpec] = []
    cursor: str | None = None
    for _page in range(MAX_LISTING_PAGES):
        page = await client.list_tools(cursor=cursor)
        specs.extend(
            McpToolSpec(tool.name, tool.description, dict(tool.input_schema or {"type": "object"}))
            for tool in page.tools
        )
        cursor = page.next_cursor
        if cursor is None or len(specs) >= MAX_TOOLS_PER_SERVER:
            break
    return specs[:MAX_TOOLS_PER_SERVER]


def result_text(result: mcp_types.CallToolResult) -> str:
    """The text the model sees: text content as is, other content described (never dropped silently);
    structured content when there is no other content."""
    parts = [content_text(item) for item in result.content]
    if not parts and result.structured_content is not None:
        parts.append(orjson.dumps(result.structured_content).decode())
    return as_text("\n".join(parts))


def content_text(item: Any) -> str:
    if isinstance(item, mcp_types.TextContent):
        return item.text
    if isinstance(item, mcp_types.ImageContent | mcp_types.AudioContent):
        kind = "image" if isinstance(item, mcp_types.ImageContent) else "audio"
        size = len(item.data) * 3 // 4
        return f"[{kind} content ({item.mime_type}, about {size} bytes) not shown]"
    if isinstance(item, mcp_types.EmbeddedResource):
        resource = item.resource
        if isinstance(resource, mcp_types.TextResourceContents):
            return f"[resource {resource.uri}]\n{resource.text}"
        return f"[binary resource {resource.uri} ({resource.mime_type or 'unknown type'}) not shown]"
    if isinstance(item, mcp_types.ResourceLink):
        return f"[resource link {item.uri}" + (f" ({item.name})]" if item.name else "]")
    return f"[{getattr(item, 'type', type(item).__name__)} content not shown]"


def describe(error: BaseException, target: _Target) -> str:
    """What went wrong, naming the server's origin only (its path or headers may carry secrets)."""
    where = origin(target.url)
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    if isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    if isinstance(error, TimeoutError):
        return f"{where} gave no answer within {target.timeout_seconds:g} s"
    if isinstance(error, httpx2.HTTPStatusError):
        return f"{where} answered HTTP {error.response.status_code}"
    if isinstance(error, httpx2.ConnectError | OSError):
        return f"could not connect to {where}" + (
            f": {error}" if "may not contact" in str(error) or "resolved" in str(error) else ""
        )
    if isinstance(error, MCPError):
        return f"{where}: {error}"
    return f"{where}: the MCP exchange failed ({type(error).__name__})"
