"""The tool loop: function tools with a server, client-side tools, apiRequest tools, failures."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from chatloom.testing.fake_llm import FakeLLM, FakeReply
from chatloom.testing.http_recorder import HttpRecorder, RecordedCall, Scripted
from tests.support.client import Api

WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture(scope="session")
def recorder_server() -> Iterator[HttpRecorder]:
    with HttpRecorder().start() as recorder:
        yield recorder


@pytest.fixture
def recorder(recorder_server: HttpRecorder) -> HttpRecorder:
    recorder_server.reset()
    return recorder_server


def weather_call(call_id: str = "call_1", city: str = "Oslo") -> dict[str, Any]:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": "get_weather", "arguments": f'{{"city":"{city}"}}'},
    }


def answer_weather(call: RecordedCall) -> Scripted:
    results = [
        {
            "toolCallId": item["id"],
            "name": item["name"],
            "result": f"7 degrees in {item['arguments']['city']}",
        }
        for item in call.json["message"]["toolCallList"]
    ]
    return Scripted(json={"results": results})


def weather_assistant(api: Api, server_url: str | None, **model: Any) -> dict[str, Any]:
    tool: dict[str, Any] = {"type": "function", "function": WEATHER}
    if server_url is not None:
        tool["server"] = {
            "url": server_url,
            "headers": {"X-Tool-Secret": "s3"},
            "timeoutSeconds": 1,
            "secret": "tool-signing-secret",
        }
    return api.create_assistant(
        model={"provider": "openai", "model": "gpt-4o-mini", "tools": [tool], **model}
    )


def tool_messages(fake: FakeLLM) -> list[dict[str, Any]]:
    return [m for m in fake.requests[-1].json["messages"] if m["role"] == "tool"]


def test_function_tool_with_a_server(api: Api, fake_llm: FakeLLM, recorder: HttpRecorder) -> None:
    recorder.on("/tools", answer_weather)
    assistant = weather_assistant(api, f"{recorder.url}/tools")
    fake_llm.push(FakeReply(tool_calls=[weather_call()]), FakeReply(text="It is 7 degrees in Oslo."))
    chat = api.chat(assistantId=assistant["id"], input="Weather in Oslo?")

    assert [m["role"] for m in chat["output"]] == ["assistant", "tool", "assistant"]
    assert chat["output"][0]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert (
        chat["output"][1]["tool_call_id"] == "call_1" and chat["output"][1]["content"] == "7 degrees in Oslo"
    )
    assert chat["output"][2]["content"] == "It is 7 degrees in Oslo."
    assert len(chat["costs"]) == 2

    [hook] = recorder.calls_to("/tools")
    assert hook.method == "POST" and hook.headers["X-Tool-Secret"] == "s3"
    timestamp = hook.headers["X-Chatloom-Timestamp"]
    expected = hmac.new(b"tool-signing-secret", timestamp.encode() + b"." + hook.body, hashlib.sha256)
    assert hook.headers["X-Chatloom-Signature"] == f"sha256={expected.hexdigest()}", "tool calls are signed"
    message = hook.json["message"]
    assert message["type"] == "tool-calls" and message["timestamp"] > 0
    [entry] = message["toolCallList"]
    assert entry["id"] == "call_1" and entry["function"] == {
        "name": "get_weather",
        "arguments": {"city": "Oslo"},
    }
    assert entry["name"] == "get_weather" and entry["arguments"] == entry["parameters"] == {"city": "Oslo"}
    assert message["toolWithToolCallList"][0]["toolCall"]["id"] == "call_1"
    assert message["toolWithToolCallList"][0]["function"]["name"] == "get_weather"
    assert message["chat"]["id"] == chat["id"] and message["assistant"]["id"] == assistant["id"]
    assert tool_messages(fake_llm) == [
        {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "7 degrees in Oslo"}
    ]


def test_function_tool_streamed(api: Api, fake_llm: FakeLLM, recorder: HttpRecorder) -> None:
    recorder.on("/tools", answer_weather)
    assistant = weather_assistant(api, f"{recorder.url}/tools")
    fake_llm.push(
        FakeReply(text="Let me check.", tool_calls=[weather_call("c1"), weather_call("c2", "Rome")]),
        FakeReply(text="Oslo 7, Rome 7.", chunks=["Oslo 7,", " Rome 7."]),
    )
    frames = list(api.stream({"assistantId": assistant["id"], "input": "Oslo and Rome?"}))
    deltas = [(f["path"], f["delta"]) for f in frames[:-1]]
    assert deltas[-2:] == [("chat.output[3].content", "Oslo 7,"), ("chat.output[3].content", " Rome 7.")]
    assert {path for path, _ in deltas[:-2]} == {"chat.output[0].content"}
    stored = api.get(f"/chat/{frames[0]['id']}").json()
    assert [m["role"] for m in stored["output"]] == ["assistant", "tool", "tool", "assistant"]
    assert [m["content"] for m in stored["output"][1:3]] == ["7 degrees in Oslo", "7 degrees in Rome"]
    assert len(recorder.calls_to("/tools")) == 1, "calls to one server go in one message"


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("down", "could not be reached"),
        ("500", "HTTP 500"),
        ("slow", "could not be reached"),
        ("metadata", "refused"),
        ("no results", "results"),
    ],
)
def test_tool_server_failures_become_error_results(
    api: Api, fake_llm: FakeLLM, recorder: HttpRecorder, setup: str, expected: str
) -> None:
    url = f"{recorder.url}/tools"
    if setup == "down":
        url = "http://127.0.0.1:9/tools"
    elif setup == "500":
        recorder.script("/tools", *[Scripted(status=500)] * 5)
    elif setup == "slow":
        recorder.script("/tools", Scripted(json={"results": []}, delay_seconds=1.5))
    elif setup == "metadata":
        url = "http://169.254.169.254/latest"
    else:
        recorder.script("/tools", Scripted(json={"ok": True}))
    assistant = weather_assistant(api, url)
    fake_llm.push(FakeReply(tool_calls=[weather_call()]), FakeReply(text="Sorry, no weather."))
    chat = api.chat(assistantId=assistant["id"], input="Weather?")
    assert [m["role"] for m in chat["output"]] == ["assistant", "tool", "assistant"]
    [seen] = tool_messages(fake_llm)
    assert seen["content"].startswith("Error:") and expected in seen["content"], seen


def test_client_side_tool_round_trip(api: Api, fake_llm: FakeLLM) -> None:
    assistant = weather_assistant(api, None)
    fake_llm.push(FakeReply(tool_calls=[weather_call("call_c")]))
    asked = api.chat(assistantId=assistant["id"], input="Weather?")
    assert [m["role"] for m in asked["output"]] == ["assistant"], "the turn ends with the pending call"

    wrong = api.post(
        "/chat",
        {
            "previousChatId": asked["id"],
            "input": [{"role": "tool", "tool_call_id": "call_nope", "content": "x"}],
        },
    )
    assert wrong.status_code == 400 and "input[0].tool_call_id" in wrong.json()["message"]

    fake_llm.push(FakeReply(text="It is 3 degrees."))
    answered = api.chat(
        previousChatId=asked["id"], input=[{"role": "tool", "tool_call_id": "call_c", "content": "3 degrees"}]
    )
    assert answered["output"][0]["content"] == "It is 3 degrees."
    assert tool_messages(fake_llm) == [{"role": "tool", "tool_call_id": "call_c", "content": "3 degrees"}]
    again = api.post(
        "/chat",
        {
            "previousChatId": answered["id"],
            "input": [{"role": "tool", "tool_call_id": "call_c", "content": "twice"}],
        },
    )
    assert again.status_code == 400, "a call is answered once"


def test_api_request_tools(api: Api, fake_llm: FakeLLM, recorder: HttpRecorder) -> None:
    recorder.script("/orders/42", Scripted(json={"status": "shipped"}))
    recorder.script("/stock", Scripted(json={"count": 3}))
    tools = [
        {
            "type": "apiRequest",
            "name": "order_status",
            "description": "Status of an order",
            "method": "POST",
            "url": f"{recorder.url}/orders/{{{{ order_id }}}}",
            "body": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}, "source": {"type": "string", "value": "chat"}},
                "required": ["order_id"],
            },
            "headers": {"type": "object", "properties": {"X-Api-Key": {"type": "string", "value": "k1"}}},
        },
        {
            "type": "apiRequest",
            "name": "stock",
            "method": "GET",
            "url": f"{recorder.url}/stock",
            "body": {"type": "object", "properties": {"sku": {"type": "string"}}},
        },
    ]
    assistant = api.create_assistant(model={"provider": "openai", "model": "gpt-4o-mini", "tools": tools})
    calls = [
        {
            "id": "a1",
            "type": "function",
            "function": {"name": "order_status", "arguments": '{"order_id":"42"}'},
        },
        {"id": "a2", "type": "function", "function": {"name": "stock", "arguments": '{"sku":"X-1"}'}},
    ]
    fake_llm.push(FakeReply(tool_calls=calls), FakeReply(text="Shipped, 3 in stock."))
    chat = api.chat(assistantId=assistant["id"], input="Order 42?")
    assert chat["output"][-1]["content"] == "Shipped, 3 in stock."

    offered = {t["function"]["name"]: t["function"] for t in fake_llm.requests[0].json["tools"]}
    assert offered["order_status"]["parameters"]["properties"] == {"order_id": {"type": "string"}}
    [order] = recorder.calls_to("/orders/42")
    assert order.method == "POST" and order.json == {"order_id": "42", "source": "chat"}
    assert order.headers["X-Api-Key"] == "k1"
    [stock] = recorder.calls_to("/stock")
    assert stock.method == "GET" and stock.query == {"sku": "X-1"}
    results = {m["tool_call_id"]: m["content"] for m in tool_messages(fake_llm)}
    assert results["a1"].startswith("HTTP 200") and '"shipped"' in results["a1"]
    assert results["a2"].startswith("HTTP 200") and '"count":3' in results["a2"].replace(" ", "")


def test_stored_tools_by_id_and_unknown_tools(api: Api, fake_llm: FakeLLM, recorder: HttpRecorder) -> None:
    recorder.on("/tools", answer_weather)
    created = api.post(
        "/tool", {"type": "function", "function": WEATHER, "server": {"url": f"{recorder.url}/tools"}}
    )
    assert created.status_code == 201, created.text
    assistant = api.create_assistant(
        model={"provider": "openai", "model": "gpt-4o-mini", "toolIds": [created.json()["id"]]}
    )
    fake_llm.push(
        FakeReply(
            tool_calls=[
                weather_call(),
                {"id": "x9", "type": "function", "function": {"name": "made_up", "arguments": "{}"}},
            ]
        ),
        FakeReply(text="done"),
    )
    chat = api.chat(assistantId=assistant["id"], input="Weather?")
    contents = {m["tool_call_id"]: m["content"] for m in chat["output"] if m["role"] == "tool"}
    assert contents["call_1"] == "7 degrees in Oslo" and "no tool named 'made_up'" in contents["x9"]

    refused = api.post("/assistant", {"model": {"provider": "openai", "model": "m", "toolIds": ["nope"]}})
    assert refused.status_code == 400 and refused.json()["message"] == "model.toolIds[0]: tool nope not found"
    tool = api.post("/tool", {"type": "function", "function": {"name": "gone"}}).json()
    orphaned = api.create_assistant(model={"provider": "openai", "model": "m", "toolIds": [tool["id"]]})
    assert api.delete(f"/tool/{tool['id']}").status_code == 200
    response = api.post("/chat", {"assistantId": orphaned["id"], "input": "x"})
    assert response.status_code == 400 and "model.toolIds" in response.json()["message"]


def test_tool_rounds_are_bounded(api: Api, fake_llm: FakeLLM, recorder: HttpRecorder) -> None:
    recorder.on("/tools", answer_weather)
    assistant = weather_assistant(api, f"{recorder.url}/tools")
    fake_llm.push(*[FakeReply(tool_calls=[weather_call(f"r{i}")]) for i in range(11)])
    chat = api.chat(assistantId=assistant["id"], input="loop forever")
    assert len(fake_llm.requests) == 11
    assert "tools" not in fake_llm.requests[-1].json, "the last call offers no tools"
    last = chat["output"][-1]
    assert last["role"] == "tool" and "limit of 10 tool rounds" in last["content"]
    assert orjson.loads(chat["output"][0]["tool_calls"][0]["function"]["arguments"]) == {"city": "Oslo"}


@pytest.mark.parametrize(
    ("provider", "model"), [("anthropic", "claude-3-5-haiku-20241022"), ("google", "gemini-2.0-flash")]
)
def test_tool_loop_on_native_providers(
    api: Api, fake_llm: FakeLLM, recorder: HttpRecorder, provider: str, model: str
) -> None:
    recorder.on("/tools", answer_weather)
    tool = {"type": "function", "function": WEATHER, "server": {"url": f"{recorder.url}/tools"}}
    assistant = api.create_assistant(model={"provider": provider, "model": model, "tools": [tool]})
    fake_llm.push(FakeReply(tool_calls=[weather_call("n1")]), FakeReply(text="7 degrees, says the tool."))
    chat = api.chat(assistantId=assistant["id"], input="Weather in Oslo?")
    assert [m["role"] for m in chat["output"]] == ["assistant", "tool", "assistant"]
    assert chat["output"][1]["content"] == "7 degrees in Oslo"
    assert "7 degrees in Oslo" in orjson.dumps(fake_llm.requests[-1].json).decode()
    fake_llm.push(FakeReply(tool_calls=[weather_call("n2")]), FakeReply(text="Streamed answer."))
    frames = list(api.stream({"previousChatId": chat["id"], "input": "And now?"}))
    assert frames[-2]["path"] == "chat.output[2].content"
    assert len(recorder.calls_to("/tools")) == 2
