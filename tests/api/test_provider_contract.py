"""One behaviour for every provider: each adapter runs through the API against the fake LLM speaking
that provider's protocol (OpenAI, an OpenAI-compatible vendor, Anthropic, Gemini)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from chatloom.testing.fake_llm import FakeLLM, FakeReply
from tests.support.client import Api


@dataclass(frozen=True)
class Provider:
    name: str
    model: str
    path_marker: str
    key_header: str
    key_value: str


PROVIDERS = [
    Provider("openai", "gpt-4o-mini", "/chat/completions", "Authorization", "Bearer sk-test-openai"),
    Provider("groq", "llama-3.1-8b-instant", "/chat/completions", "Authorization", "Bearer gsk-test-groq"),
    Provider("anthropic", "claude-3-5-haiku-20241022", "/v1/messages", "x-api-key", "sk-ant-test"),
    Provider("google", "gemini-2.0-flash", ":generateContent", "x-goog-api-key", "goog-test"),
]


@pytest.fixture(params=PROVIDERS, ids=[p.name for p in PROVIDERS])
def provider(request: pytest.FixtureRequest) -> Provider:
    found: Provider = request.param
    return found


def assistant_for(api: Api, provider: Provider, **model: Any) -> dict[str, Any]:
    return api.create_assistant(
        model={
            "provider": provider.name,
            "model": provider.model,
            "messages": [{"role": "system", "content": "You are terse."}],
            **model,
        }
    )


def sent(fake: FakeLLM, index: int = -1) -> str:
    """The request body the provider received, as text (each dialect nests messages differently)."""
    return orjson.dumps(fake.requests[index].json).decode()


def test_plain_turn(api: Api, fake_llm: FakeLLM, provider: Provider) -> None:
    assistant = assistant_for(api, provider)
    chat = api.chat(assistantId=assistant["id"], input="hello there")
    assert chat["output"] == [{"role": "assistant", "content": "You said: hello there"}]
    request = fake_llm.requests[-1]
    assert provider.path_marker in request.path
    assert request.headers[provider.key_header] == provider.key_value
    assert "You are terse." in sent(fake_llm) and "hello there" in sent(fake_llm)


def test_multi_turn_history(api: Api, fake_llm: FakeLLM, provider: Provider) -> None:
    assistant = assistant_for(api, provider)
    first = api.chat(assistantId=assistant["id"], input="first question")
    second = api.chat(previousChatId=first["id"], input="second question")
    assert second["output"][0]["content"] == "You said: second question"
    body = sent(fake_llm)
    assert (
        body.index("first question") < body.index("You said: first question") < body.index("second question")
    )


def test_streamed_turn(api: Api, fake_llm: FakeLLM, provider: Provider) -> None:
    assistant = assistant_for(api, provider)
    fake_llm.push(FakeReply(text="Streaming works fine.", chunks=["Stream", "ing works", " fine."]))
    frames = list(api.stream({"assistantId": assistant["id"], "input": "go"}))
    assert [f["delta"] for f in frames[:-1]] == ["Stream", "ing works", " fine."]
    stored = api.get(f"/chat/{frames[0]['id']}").json()
    assert stored["output"][0]["content"] == "Streaming works fine."
    assert stored["costs"][0]["completionTokens"] > 0


def test_tool_call_round_trip(api: Api, fake_llm: FakeLLM, provider: Provider) -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    assistant = assistant_for(api, provider, tools=[tool])
    call = {
        "id": "call_w1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
    }
    fake_llm.push(FakeReply(tool_calls=[call]))
    asked = api.chat(assistantId=assistant["id"], input="weather in Oslo?")
    [message] = asked["output"]
    [made] = message["tool_calls"]
    assert made["function"]["name"] == "get_weather"
    assert orjson.loads(made["function"]["arguments"]) == {"city": "Oslo"}
    assert "get_weather" in sent(fake_llm), "the tool definition reached the provider"

    fake_llm.push(FakeReply(text="It is 7 degrees in Oslo."))
    answered = api.chat(
        previousChatId=asked["id"],
        input=[{"role": "tool", "tool_call_id": made["id"], "content": "7 degrees"}],
    )
    assert answered["output"][0]["content"] == "It is 7 degrees in Oslo."
    body = sent(fake_llm)
    assert "7 degrees" in body and made["id"] in body and "Oslo" in body


def test_usage_becomes_costs(api: Api, fake_llm: FakeLLM, provider: Provider) -> None:
    assistant = assistant_for(api, provider)
    fake_llm.push(FakeReply(text="ok", usage={"prompt_tokens": 1200, "completion_tokens": 300}))
    chat = api.chat(assistantId=assistant["id"], input="count")
    [cost] = chat["costs"]
    assert (cost["promptTokens"], cost["completionTokens"]) == (1200, 300)
    assert cost["model"]["provider"] == provider.name
    if provider.name != "groq":
        assert chat["cost"] > 0


def test_upstream_4xx_is_400_with_its_message(api: Api, fake_llm: FakeLLM, provider: Provider) -> None:
    assistant = assistant_for(api, provider)
    fake_llm.push(FakeReply(status=400))
    response = api.post("/chat", {"assistantId": assistant["id"], "input": "x"})
    assert response.status_code == 400
    assert "HTTP 400" in response.json()["message"] and "scripted to fail" in response.json()["message"]


def test_rate_limits_and_server_errors_are_502(api: Api, fake_llm: FakeLLM, provider: Provider) -> None:
    assistant = assistant_for(api, provider)
    for status in (429, 500, 503):
        fake_llm.push(*[FakeReply(status=status, headers={"Retry-After": "0"})] * 3)
        response = api.post("/chat", {"assistantId": assistant["id"], "input": "x"})
        assert response.status_code == 502, (status, response.text)


def test_timeout_is_504(api: Api, fake_llm: FakeLLM, provider: Provider) -> None:
    assistant = assistant_for(api, provider, timeoutSeconds=0.3)
    fake_llm.push(FakeReply(text="too late", delay_seconds=1.2))
    response = api.post("/chat", {"assistantId": assistant["id"], "input": "x"})
    assert response.status_code == 504


def test_stream_cut_midway(api: Api, fake_llm: FakeLLM, provider: Provider) -> None:
    assistant = assistant_for(api, provider)
    fake_llm.push(FakeReply(text="one two three", chunks=["one ", "two ", "three"], cut_after_chunks=1))
    frames = list(api.stream({"assistantId": assistant["id"], "input": "x"}))
    assert frames[0]["delta"] == "one " and frames[-2]["error"]["statusCode"] == 502
    assert api.get(f"/chat/{frames[0]['id']}").status_code == 404
    assert api.get("/chat").json()["metadata"]["totalItems"] == 0
