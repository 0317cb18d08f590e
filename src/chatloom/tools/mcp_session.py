"""One short MCP connection through the `mcp` SDK (Streamable HTTP or SSE), over guarded httpx2 clients;
imported by `chatloom.tools.mcp` on first use, so servers that never meet an mcp tool never load the SDK.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx2
import mcp_types
import orjson
from mcp.client import Client, Transport
from mcp.client.session import IncomingMessage
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from chatloom.outbound.guard import OutboundPolicy
from chatloom.outbound.guarded_httpx import guarded_client
from chatloom.outbound.http import RESOLVER_REFUSAL, origin
from chatloom.tools.calls import as_text
from chatloom.tools.mcp_values import McpTarget, McpToolSpec

# httpx2 logs each request's full URL at INFO; a URL may carry a token.
logging.getLogger("httpx2").setLevel(logging.WARNING)


class McpSession:
    def __init__(self, client: Client) -> None:
        self.client = client

    async def list_tools(self, max_tools: int, max_pages: int) -> list[McpToolSpec]:
        specs: list[McpToolSpec] = []
        cursor: str | None = None
        for _page in range(max_pages):
            page = await self.client.list_tools(cursor=cursor)
            specs.extend(
                McpToolSpec(tool.name, tool.description, dict(tool.input_schema or {"type": "object"}))
                for tool in page.tools
            )
            cursor = page.next_cursor
            if cursor is None or len(specs) >= max_tools:
                break
        return specs[:max_tools]

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> tuple[bool, str]:
        """`(is_error, text)` of one `tools/call`."""
        result = await self.client.call_tool(name, arguments)
        return bool(result.is_error), result_text(result)


@asynccontextmanager
async def connect(
    policy: OutboundPolicy, target: McpTarget, tools_changed: Callable[[], None], endless_reads: bool = False
) -> AsyncIterator[McpSession]:
    """An MCP session with the target's server; `tools_changed` runs on its list-changed notice. Reads
    time out after the target's timeout, or never with `endless_reads` (for a stream the caller bounds)."""
    read = None if endless_reads else target.timeout_seconds
    timeout = httpx2.Timeout(target.timeout_seconds, read=read)

    async def on_message(message: IncomingMessage) -> None:
        if isinstance(message, mcp_types.ToolListChangedNotification):
            tools_changed()

    def factory(
        headers: dict[str, str] | None = None,
        timeout: httpx2.Timeout | None = None,
        auth: httpx2.Auth | None = None,
    ) -> httpx2.AsyncClient:
        return guarded_client(policy, headers, timeout, auth)

    async with AsyncExitStack() as stack:
        if target.protocol == "sse":
            transport: Transport = sse_client(
                target.url,
                headers=target.headers,
                timeout=target.timeout_seconds,
                sse_read_timeout=read if read is not None else 24 * 3600.0,
                httpx_client_factory=factory,
            )
        else:
            http = await stack.enter_async_context(factory(target.headers, timeout))
            transport = streamable_http_client(target.url, http_client=http)
        client = await stack.enter_async_context(Client(transport, message_handler=on_message, cache=None))
        yield McpSession(client)


async def watch_tools(policy: OutboundPolicy, target: McpTarget, tools_changed: Callable[[], None]) -> None:
    """Holds a `subscriptions/listen` stream (2026-07-28 servers) until the server says its tools changed
    (then runs `tools_changed`) or the stream ends; the caller bounds how long. Raises for a server that
    cannot be watched (`ListenNotSupportedError` for older protocol versions)."""
    async with (
        connect(policy, target, tools_changed, endless_reads=True) as session,
        session.client.listen(tools_list_changed=True) as subscription,
    ):
        async for _event in subscription:
            tools_changed()
            return


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


def describe(error: BaseException, url: str, timeout_seconds: float) -> str:
    """What went wrong, naming the server's origin only (its path or headers may carry secrets)."""
    where = origin(url)
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    if isinstance(error, TimeoutError):
        return f"{where} gave no answer within {timeout_seconds:g} s"
    if isinstance(error, httpx2.HTTPStatusError):
        return f"{where} answered HTTP {error.response.status_code}"
    if isinstance(error, httpx2.ConnectError | OSError):
        detail = str(error)
        known = RESOLVER_REFUSAL in detail or "could not be resolved" in detail
        return f"could not connect to {where}" + (f": {detail}" if known else "")
    if isinstance(error, MCPError):
        return f"{where}: {error}"
    return f"{where}: the MCP exchange failed ({type(error).__name__})"
