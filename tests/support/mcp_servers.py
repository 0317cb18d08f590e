"""Real MCP servers on loopback, built with the `mcp` SDK's `MCPServer` and served by uvicorn threads:
one over Streamable HTTP and one over SSE offering the same two tools, one whose tool hangs, and one
whose tool list changes."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from starlette.types import ASGIApp

from tests.support.server import free_port


def orders_server() -> MCPServer:
    server = MCPServer("orders")

    @server.tool()
    def lookup_order(order_id: str) -> str:
        """Looks up an order by its id."""
        return f"Order {order_id}: 2 lamps, shipped on 3 March."

    @server.tool()
    def cancel_order(order_id: str) -> str:
        """Cancels an order."""
        raise ToolError(f"order {order_id} has already shipped")

    return server


def slow_server() -> MCPServer:
    server = MCPServer("slow")

    @server.tool()
    async def lookup_order(order_id: str) -> str:
        """Looks up an order, slowly."""
        await asyncio.sleep(30)
        return "too late"

    return server


def unlocking_server() -> MCPServer:
    """Offers `unlock`, which adds a `discount` tool and tells listeners the tool list changed."""
    server = MCPServer("unlocking")

    @server.tool()
    async def unlock(ctx: Context) -> str:
        """Unlocks the discount tool."""

        def discount(code: str) -> str:
            """Applies a discount code."""
            return f"{code} applied"

        server.add_tool(discount)
        await ctx.notify_tools_changed()
        return "unlocked"

    return server


class _Served:
    def __init__(self, app: ASGIApp) -> None:
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error", lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self) -> _Served:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("an MCP test server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        # Forced: clients may hold list-changed subscriptions open, which a graceful stop would wait for.
        self._server.should_exit = self._server.force_exit = True
        self._thread.join(timeout=10)


@dataclass(frozen=True)
class McpServers:
    streamable_http_url: str
    sse_url: str
    slow_url: str


@contextmanager
def mcp_servers() -> Iterator[McpServers]:
    served = [
        _Served(orders_server().streamable_http_app()).start(),
        _Served(orders_server().sse_app()).start(),
        _Served(slow_server().streamable_http_app()).start(),
    ]
    try:
        yield McpServers(
            streamable_http_url=f"http://127.0.0.1:{served[0].port}/mcp",
            sse_url=f"http://127.0.0.1:{served[1].port}/sse",
            slow_url=f"http://127.0.0.1:{served[2].port}/mcp",
        )
    finally:
        for one in served:
            one.stop()
