"""`mcp` tools: real MCP servers on loopback (the `mcp` SDK's own server), listed and called in chats."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from chatloom.outbound.guard import OutboundPolicy
from chatloom.testing.fake_llm import FakeLLM, FakeReply
from chatloom.tools.mcp import McpClient, McpListing
from tests.support.client import Api
from tests.support.mcp_servers import McpServers, _Served, mcp_servers, orders_server, unlocking_server
from tests.support.server import free_port


@pytest.fixture(scope="module")
def mcp() -> Iterator[McpServers]:
    with mcp_servers() as servers:
        yield servers


def mcp_tool(api: Api, url: str, protocol: str = "shttp", timeout: float = 10) -> dict[str, Any]:
    response = api.post(
        "/tool",
        {
            "type": "mcp",
            "server": {"url": url, "timeoutSeconds": timeout, "headers": {"X-Mcp-Token": "t0k"}},
            "metadata": {"protocol": protocol},
        },
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def assistant_with(api: Api, *tools: dict[str, Any]) -> dict[str, Any]:
    return api.create_assistant(
        model={"provider": "openai", "model": "gpt-4o-mini", "toolIds": [tool["id"] for tool in tools]}
    )


def call(name: str, arguments: str = '{"order_id": "A17"}', call_id: str = "call_1") -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def offered(fake: FakeLLM, index: int = 0) -> dict[str, dict[str, Any]]:
    return {tool["function"]["name"]: tool["function"] for tool in fake.requests[index].json.get("tools", [])}


def tool_result(fake: FakeLLM) -> str:
    return str(next(m for m in fake.requests[-1].json["messages"] if m["role"] == "tool")["content"])


@pytest.mark.parametrize("protocol", ["shttp", "sse"])
def test_server_tools_are_offered_and_called(
    api: Api, fake_llm: FakeLLM, mcp: McpServers, protocol: str
) -> None:
    url = mcp.streamable_http_url if protocol == "shttp" else mcp.sse_url
    assistant = assistant_with(api, mcp_tool(api, url, protocol))
    fake_llm.push(FakeReply(tool_calls=[call("lookup_order")]), FakeReply(text="It shipped on 3 March."))
    chat = api.chat(assistantId=assistant["id"], input="Where is order A17?")

    tools = offered(fake_llm)
    assert set(tools) == {"lookup_order", "cancel_order"}
    assert tools["lookup_order"]["description"] == "Looks up an order by its id."
    assert tools["lookup_order"]["parameters"]["properties"]["order_id"]["type"] == "string"
    assert tool_result(fake_llm) == "Order A17: 2 lamps, shipped on 3 March."
    assert [m["role"] for m in chat["output"]] == ["assistant", "tool", "assistant"]
    assert chat["output"][1]["content"] == "Order A17: 2 lamps, shipped on 3 March."
    assert chat["output"][-1]["content"] == "It shipped on 3 March."


def test_a_tool_that_raises_is_an_error_result(api: Api, fake_llm: FakeLLM, mcp: McpServers) -> None:
    assistant = assistant_with(api, mcp_tool(api, mcp.streamable_http_url))
    fake_llm.push(FakeReply(tool_calls=[call("cancel_order")]), FakeReply(text="It has shipped already."))
    chat = api.chat(assistantId=assistant["id"], input="Cancel A17")
    assert chat["output"][1]["content"].startswith("Error:")
    assert "order A17 has already shipped" in chat["output"][1]["content"]
    assert chat["output"][-1]["content"] == "It has shipped already."


def test_a_server_that_hangs_is_an_error_result(api: Api, fake_llm: FakeLLM, mcp: McpServers) -> None:
    assistant = assistant_with(api, mcp_tool(api, mcp.slow_url, timeout=1))
    fake_llm.push(FakeReply(tool_calls=[call("lookup_order")]), FakeReply(text="The lookup timed out."))
    chat = api.chat(assistantId=assistant["id"], input="Where is A17?")
    assert chat["output"][1]["content"].startswith("Error:")
    assert "no answer within 1 s" in chat["output"][1]["content"]
    assert chat["output"][-1]["content"] == "The lookup timed out."


def test_a_server_that_is_down_offers_nothing_and_the_turn_answers(api: Api, fake_llm: FakeLLM) -> None:
    assistant = assistant_with(api, mcp_tool(api, f"http://127.0.0.1:{free_port()}/mcp"))
    fake_llm.push(FakeReply(text="I cannot look that up right now."))
    chat = api.chat(assistantId=assistant["id"], input="Where is A17?")
    assert "tools" not in fake_llm.requests[0].json or fake_llm.requests[0].json["tools"] == []
    assert chat["output"] == [{"role": "assistant", "content": "I cannot look that up right now."}]


def test_a_server_that_went_down_after_listing_is_an_error_result(api: Api, fake_llm: FakeLLM) -> None:
    served = _Served(orders_server().streamable_http_app()).start()
    try:
        assistant = assistant_with(api, mcp_tool(api, f"http://127.0.0.1:{served.port}/mcp"))
        fake_llm.push(FakeReply(text="Hello."))
        api.chat(assistantId=assistant["id"], input="Hi")  # lists the tools (kept for a minute)
    finally:
        served.stop()
    fake_llm.push(FakeReply(tool_calls=[call("lookup_order")]), FakeReply(text="The lookup failed."))
    chat = api.chat(assistantId=assistant["id"], input="Where is A17?")
    assert set(offered(fake_llm, 1)) == {"lookup_order", "cancel_order"}, "the cached listing is offered"
    assert chat["output"][1]["content"].startswith("Error:")
    assert "could not connect" in chat["output"][1]["content"]
    assert chat["output"][-1]["content"] == "The lookup failed."


def test_names_offered_by_two_servers_are_prefixed(api: Api, fake_llm: FakeLLM, mcp: McpServers) -> None:
    first = mcp_tool(api, mcp.streamable_http_url)
    second = mcp_tool(api, mcp.sse_url, "sse")
    assistant = assistant_with(api, first, second)
    fake_llm.push(FakeReply(tool_calls=[call("mcp2_lookup_order")]), FakeReply(text="Done."))
    chat = api.chat(assistantId=assistant["id"], input="Where is A17?")
    assert set(offered(fake_llm)) == {
        "mcp1_lookup_order",
        "mcp1_cancel_order",
        "mcp2_lookup_order",
        "mcp2_cancel_order",
    }
    assert chat["output"][1]["content"] == "Order A17: 2 lamps, shipped on 3 March."


def test_streamed_and_in_a_session(api: Api, fake_llm: FakeLLM, mcp: McpServers) -> None:
    assistant = assistant_with(api, mcp_tool(api, mcp.streamable_http_url))
    session = api.post("/session", {"assistantId": assistant["id"]}).json()
    fake_llm.push(
        FakeReply(tool_calls=[call("lookup_order")]), FakeReply(text="Shipped.", chunks=["Ship", "ped."])
    )
    frames = list(api.stream({"sessionId": session["id"], "input": "Where is A17?"}))
    assert frames[-1] == "[DONE]"
    stored = api.get(f"/chat/{frames[0]['id']}").json()
    assert [m["role"] for m in stored["output"]] == ["assistant", "tool", "assistant"]
    assert stored["output"][1]["content"] == "Order A17: 2 lamps, shipped on 3 March."
    messages = api.get(f"/session/{session['id']}").json()["messages"]
    assert messages[-1]["content"] == "Shipped."


@pytest.mark.parametrize("stream", [False, True])
def test_responses_api(api: Api, fake_llm: FakeLLM, mcp: McpServers, stream: bool) -> None:
    assistant = assistant_with(api, mcp_tool(api, mcp.streamable_http_url))
    client = openai.OpenAI(base_url=f"{api.base_url}/chat", api_key=api.key, max_retries=0)
    fake_llm.push(FakeReply(tool_calls=[call("lookup_order")]), FakeReply(text="Shipped on 3 March."))
    body: dict[str, Any] = {
        "model": "m",
        "input": "Where is A17?",
        "extra_body": {"assistantId": assistant["id"]},
    }
    if stream:
        with client.responses.stream(**body) as events:
            text = events.get_final_response().output_text
    else:
        text = client.responses.create(stream=False, **body).output_text
    assert text == "Shipped on 3 March."
    assert tool_result(fake_llm) == "Order A17: 2 lamps, shipped on 3 March."


def test_crud_and_validation(api: Api) -> None:
    created = mcp_tool(api, "https://mcp.example.com/mcp", "sse")
    assert created["type"] == "mcp" and created["metadata"] == {"protocol": "sse"}
    assert api.get(f"/tool/{created['id']}").json() == created
    missing = api.post("/tool", {"type": "mcp", "server": {"timeoutSeconds": 5}})
    assert missing.status_code == 400 and "server.url" in str(missing.json()["message"])
    bad = api.post(
        "/tool", {"type": "mcp", "server": {"url": "https://x.test"}, "metadata": {"protocol": "ws"}}
    )
    assert bad.status_code == 400 and "metadata.protocol" in str(bad.json()["message"])


def test_another_orgs_mcp_tool_cannot_be_used(api: Api, other_api: Api) -> None:
    foreign = mcp_tool(other_api, "https://mcp.example.com/mcp")
    body = {"model": {"provider": "openai", "model": "m", "toolIds": [foreign["id"]]}}
    response = api.post("/assistant", body)
    assert response.status_code == 400
    assert response.json()["message"] == f"model.toolIds[0]: tool {foreign['id']} not found"


def test_unvalidated_inline_tools_never_fail_a_turn(api: Api, fake_llm: FakeLLM) -> None:
    tools = [
        {"type": "mcp", "server": {"url": "not a url", "timeoutSeconds": "soon", "headers": "x"}},
        {"type": "mcp", "server": "nowhere", "metadata": "sse"},
        {"type": "query", "knowledgeBases": [{"provider": "custom-knowledge-base", "server": 5}, "x"]},
    ]
    model = {"provider": "openai", "model": "gpt-4o-mini", "tools": tools}
    fake_llm.push(
        FakeReply(tool_calls=[call("query_knowledge_base", '{"query": "q"}')]), FakeReply(text="Hi.")
    )
    chat = api.chat(assistant={"model": model}, input="Hello")
    assert set(offered(fake_llm)) == {"query_knowledge_base"}
    assert chat["output"][1]["content"].startswith("Error:")
    assert chat["output"][-1]["content"] == "Hi."


def test_concurrent_listings_of_one_server_are_one(mcp: McpServers) -> None:
    async def scenario() -> list[McpListing]:
        client = McpClient(OutboundPolicy())
        tool = {"type": "mcp", "server": {"url": mcp.streamable_http_url, "timeoutSeconds": 10}}
        first = asyncio.ensure_future(client.list_tools("org", tool))
        await asyncio.sleep(0)
        assert len(client._listing_now) == 1
        second = asyncio.ensure_future(client.list_tools("org", tool))
        listings = list(await asyncio.gather(first, second))
        assert client._listing_now == {}
        listings.append(await client.list_tools("org", tool))  # from the cache
        await client.aclose()
        return listings

    listings = asyncio.run(scenario())
    assert all(
        {spec.name for spec in listing.tools} == {"lookup_order", "cancel_order"} for listing in listings
    )


def test_a_list_changed_notice_refreshes_the_cached_listing(api: Api, fake_llm: FakeLLM) -> None:
    served = _Served(unlocking_server().streamable_http_app()).start()
    try:
        assistant = assistant_with(api, mcp_tool(api, f"http://127.0.0.1:{served.port}/mcp"))
        fake_llm.push(FakeReply(tool_calls=[call("unlock", "{}")]), FakeReply(text="Unlocked."))
        chat = api.chat(assistantId=assistant["id"], input="Unlock it")
        assert set(offered(fake_llm)) == {"unlock"}
        assert chat["output"][1]["content"] == "unlocked"
        deadline = time.monotonic() + 15
        while True:  # the notice travels on its own stream: it may land just after the turn
            fake_llm.push(FakeReply(text="Hi."))
            api.chat(assistantId=assistant["id"], input="Hi")
            if "discount" in offered(fake_llm, -1) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert set(offered(fake_llm, -1)) == {"unlock", "discount"}, "listed again within the minute"
    finally:
        served.stop()
