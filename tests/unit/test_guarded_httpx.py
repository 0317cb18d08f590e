"""The outbound guard on httpx2 clients (what MCP connections use): checked again at connect time."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx2
import pytest

from chatloom.outbound.guard import OutboundPolicy
from chatloom.outbound.guarded_httpx import guarded_client
from chatloom.testing.http_recorder import HttpRecorder
from chatloom.tools.mcp import McpClient


@pytest.fixture(scope="module")
def recorder() -> Iterator[HttpRecorder]:
    with HttpRecorder().start() as server:
        yield server


def test_a_name_resolving_to_a_refused_address_is_never_contacted(recorder: HttpRecorder) -> None:
    port = recorder.url.rsplit(":", 1)[1]

    async def fetch(policy: OutboundPolicy) -> int:
        async with guarded_client(policy) as client:
            return (await client.get(f"http://localhost:{port}/x")).status_code

    assert asyncio.run(fetch(OutboundPolicy())) == 200
    recorder.reset()
    with pytest.raises(httpx2.ConnectError, match="may not contact"):
        asyncio.run(fetch(OutboundPolicy(block_private=True)))
    assert recorder.calls == [], "nothing reached the server"


def test_an_mcp_server_behind_a_refused_name_offers_no_tools(recorder: HttpRecorder) -> None:
    port = recorder.url.rsplit(":", 1)[1]
    client = McpClient(OutboundPolicy(block_private=True))
    tool = {"type": "mcp", "server": {"url": f"http://localhost:{port}/mcp", "timeoutSeconds": 2}}
    listing = asyncio.run(client.list_tools("org", tool))
    assert listing.tools == [] and listing.error is not None and "may not contact" in listing.error
    assert client.listing_failures == 1
    literal = {"type": "mcp", "server": {"url": "http://169.254.169.254/mcp"}}
    refused = asyncio.run(client.list_tools("org", literal))
    assert refused.error is not None and "cloud metadata" in refused.error
