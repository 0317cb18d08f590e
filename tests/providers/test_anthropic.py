"""AnthropicProvider against a real FakeLLM speaking the Messages API: codec, streaming, usage and errors."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from chatloom.domain.errors import ContextWindowExceeded, UpstreamError, UpstreamTimeout
from chatloom.domain.events import ModelReply, TextChunk
from chatloom.domain.messages import Message
from chatloom.domain.usage import Usage
from chatloom.providers.anthropic import AnthropicProvider
from chatloom.providers.base import ModelRequest
from chatloom.testing.fake_anthropic import AnthropicMessagesDialect
from chatloom.testing.fake_llm import FakeLLM, FakeReply

WEATHER_CALL = {
    "id": "toolu_weather",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city":"Paris","unit":"celsius"}'},
}
TIME_CALL = {"id": "toolu_time", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
CACHED_USAGE = {
    "input_tokens": 20,
    "output_tokens": 30,
    "cache_read_input_tokens": 1024,
    "cache_creation_input_tokens": 300,
}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLM]:
    with FakeLLM(dialects=[AnthropicMessagesDialect()]).start() as server:
        yield server


@pytest.fixture(autouse=True)
def _reset_fake(fake: FakeLLM) -> None:
    fake.reset()


def model_request(fake: FakeLLM, **overrides: Any) -> ModelRequest:
    fields: dict[str, Any] = {
        "provider": "anthropic",
        "model": "claude-sonnet-4-5",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"}],
        "base_url": fake.root_url,
        "api_key": "sk-ant-test",
    }
    fields.update(overrides)
    return ModelRequest(**fields)


def run(
    request: ModelRequest, streamed: bool = True
) -> tuple[list[tuple[float, TextChunk | ModelReply]], Exception | None]:
    """Every item with the monotonic time it arrived, and the error that ended the call, if any."""
    received: list[tuple[float, TextChunk | ModelReply]] = []

    async def go() -> Exception | None:
        provider = AnthropicProvider()
        try:
            if streamed:
                async for item in provider.stream(request):
                    received.append((time.monotonic(), item))
            else:
                received.append((time.monotonic(), await provider.complete(request)))
        except (UpstreamError, UpstreamTimeout) as error:
            return error
        finally:
            await provider.aclose()
        return None

    return received, asyncio.run(go())


def stream_items(request: ModelRequest, streamed: bool = True) -> list[TextChunk | ModelReply]:
    received, error = run(request, streamed)
    if error is not None:
        raise error
    return [item for _, item in received]


def call(request: ModelRequest, streamed: bool = False) -> ModelReply:
    return final_reply(stream_items(request, streamed))


def failure(request: ModelRequest) -> tuple[list[TextChunk | ModelReply], Exception]:
    received, error = run(request)
    assert error is not None, f"the stream ended without an error after {received!r}"
    return [item for _, item in received], error


def final_reply(items: list[TextChunk | ModelReply]) -> ModelReply:
    replies = [item for item in items if isinstance(item, ModelReply)]
    assert len(replies) == 1
    assert items[-1] is replies[0]
    return replies[0]


def texts(items: list[TextChunk | ModelReply]) -> list[str]:
    return [item.text for item in items if isinstance(item, TextChunk)]


def test_request_carries_the_headers_and_the_exact_body(fake: FakeLLM) -> None:
    weather_schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    tools = [
        {"type": "function", "function": {"name": "get_weather", "description": "Current weather",
                                          "parameters": weather_schema}},
        {"type": "function", "function": {"name": "get_time"}},
    ]  # fmt: skip
    messages: list[Message] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather and time?", "metadata": {"source": "web"}},
        {"role": "user", "content": "In Paris."},
        {"role": "developer", "content": "Use metric units."},
        {"role": "assistant", "content": "Checking.", "tool_calls": [WEATHER_CALL, TIME_CALL]},
        {"role": "tool", "content": "18C", "tool_call_id": "toolu_weather", "name": "get_weather"},
        {"role": "tool", "content": "10:00", "tool_call_id": "toolu_time", "name": "get_time"},
        {"role": "user", "content": "Thanks"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "toolu_a", "type": "function", "function": {"name": "odd", "arguments": "not json"}},
            {"id": "toolu_b", "type": "function", "function": {"name": "none", "arguments": ""}},
        ]},
    ]  # fmt: skip
    request = model_request(
        fake,
        messages=messages,
        headers={"X-Org": "acme", "anthropic-beta": "prompt-caching-2024-07-31"},
        temperature=0.2,
        max_tokens=256,
        tools=tools,
        extra={"top_k": 5, "metadata": {"user_id": "u1"}},
    )

    call(request)

    [recorded] = fake.requests
    assert recorded.path == "/v1/messages"
    assert recorded.headers["x-api-key"] == "sk-ant-test"
    assert recorded.headers["anthropic-version"] == "2023-06-01"
    assert recorded.headers["content-type"] == "application/json"
    assert recorded.headers["x-org"] == "acme"
    assert recorded.headers["anthropic-beta"] == "prompt-caching-2024-07-31"
    assert "authorization" not in recorded.headers
    weather_use = {
        "type": "tool_use",
        "id": "toolu_weather",
        "name": "get_weather",
        "input": {"city": "Paris", "unit": "celsius"},
    }
    assert recorded.json == {
        "model": "claude-sonnet-4-5",
        "system": "Be brief.\n\nUse metric units.",
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Weather and time?"},
                                         {"type": "text", "text": "In Paris."}]},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Checking."},
                weather_use,
                {"type": "tool_use", "id": "toolu_time", "name": "get_time", "input": {}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_weather", "content": "18C"},
                {"type": "tool_result", "tool_use_id": "toolu_time", "content": "10:00"},
                {"type": "text", "text": "Thanks"},
            ]},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "toolu_a", "name": "odd", "input": {"arguments": "not json"}},
                {"type": "tool_use", "id": "toolu_b", "name": "none", "input": {}},
            ]},
        ],
        "temperature": 0.2,
        "max_tokens": 256,
        "tools": [
            {"name": "get_weather", "description": "Current weather", "input_schema": weather_schema},
            {"name": "get_time", "input_schema": {"type": "object", "properties": {}}},
        ],
        "top_k": 5,
        "metadata": {"user_id": "u1"},
    }  # fmt: skip


def test_defaults_without_system_or_key_a_v1_base_url_and_headers_that_win(fake: FakeLLM) -> None:
    request = model_request(
        fake,
        messages=[{"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Hi"}],
        base_url=fake.root_url + "/v1/",
        api_key=None,
        headers={"Anthropic-Version": "2099-01-01"},
    )

    stream_items(request)

    [recorded] = fake.requests
    assert recorded.path == "/v1/messages"
    assert "x-api-key" not in recorded.headers
    assert recorded.headers.getall("anthropic-version") == ["2099-01-01"]
    assert recorded.json == {
        "model": "claude-sonnet-4-5",
        "messages": [{"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Hi"}],
        "max_tokens": 4096,
        "stream": True,
    }


def test_thinking_raises_max_tokens_and_drops_temperature_which_is_clamped_to_one(fake: FakeLLM) -> None:
    call(model_request(fake, thinking_budget_tokens=8000, max_tokens=1000, temperature=0.7))
    call(model_request(fake, thinking_budget_tokens=2000, max_tokens=16000))
    call(model_request(fake, temperature=1.7))
    call(model_request(fake, temperature=0.0))

    first, second, hot, cold = (recorded.json for recorded in fake.requests)
    assert (first["thinking"], first["max_tokens"]) == ({"type": "enabled", "budget_tokens": 8000}, 9024)
    assert "temperature" not in first
    assert (second["thinking"], second["max_tokens"]) == ({"type": "enabled", "budget_tokens": 2000}, 16000)
    assert (hot["temperature"], cold["temperature"]) == (1.0, 0.0)
    assert "thinking" not in hot


def test_complete_returns_the_text_usage_model_and_stop_reason(fake: FakeLLM) -> None:
    fake.push(FakeReply(text="Hello back", model="claude-sonnet-4-5-20250929"))

    reply = call(model_request(fake))

    assert reply.message == {"role": "assistant", "content": "Hello back"}
    assert reply.model == "claude-sonnet-4-5-20250929"
    assert reply.finish_reason == "end_turn"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (10, 2)
    assert (reply.usage.cached_prompt_tokens, reply.usage.cache_write_tokens) == (0, 0)


def test_unscripted_requests_get_the_echo_concurrently(fake: FakeLLM) -> None:
    async def call_many() -> list[ModelReply]:
        provider = AnthropicProvider()
        try:
            requests = [
                model_request(fake, messages=[{"role": "user", "content": f"number {n}"}]) for n in range(20)
            ]
            return await asyncio.gather(*(provider.complete(request) for request in requests))
        finally:
            await provider.aclose()

    replies = asyncio.run(call_many())

    assert [reply.message.get("content") for reply in replies] == [f"You said: number {n}" for n in range(20)]
    assert all(reply.model == "claude-sonnet-4-5" for reply in replies)


def test_the_echo_ignores_tool_results(fake: FakeLLM) -> None:
    messages: list[Message] = [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": None, "tool_calls": [WEATHER_CALL]},
        {"role": "tool", "content": "18C", "tool_call_id": "toolu_weather"},
    ]

    reply = call(model_request(fake, messages=messages))

    assert reply.message.get("content") == "You said: Weather?"


def test_stream_yields_chunks_in_order_as_they_arrive_then_one_reply(fake: FakeLLM) -> None:
    fake.push(
        FakeReply(
            chunks=["Hel", "lo brave", " world"],
            chunk_delay_seconds=0.05,
            usage=CACHED_USAGE,
            model="claude-sonnet-4-5-20250929",
        )
    )

    timed_items, _ = run(model_request(fake))

    items = [item for _, item in timed_items]
    chunk_times = [at for at, item in timed_items if isinstance(item, TextChunk)]
    assert texts(items) == ["Hel", "lo brave", " world"]
    assert chunk_times[-1] - chunk_times[0] >= 0.08
    reply = final_reply(items)
    assert reply.message == {"role": "assistant", "content": "Hello brave world"}
    assert reply.finish_reason == "end_turn"
    assert reply.model == "claude-sonnet-4-5-20250929"
    assert reply.usage.prompt_tokens == 20 + 1024 + 300
    assert reply.usage.completion_tokens == 30
    assert reply.usage.cached_prompt_tokens == 1024
    assert reply.usage.cache_write_tokens == 300


def test_stream_of_the_default_reply_concatenates_to_the_echo(fake: FakeLLM) -> None:
    items = stream_items(model_request(fake))

    assert "".join(texts(items)) == "You said: Hi there"
    reply = final_reply(items)
    assert reply.message.get("content") == "You said: Hi there"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (10, 4)


OPENAI_USAGE = {
    "prompt_tokens": 1200,
    "completion_tokens": 7,
    "prompt_tokens_details": {"cached_tokens": 1024},
}


@pytest.mark.parametrize(
    ("scripted", "expected"),
    [(CACHED_USAGE, Usage(1344, 30, 1024, 300)), (OPENAI_USAGE, Usage(1200, 7, 1024, 0))],
    ids=["anthropic-keys", "openai-keys"],
)
@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
def test_usage_counts_cache_reads_and_writes_into_prompt_tokens(
    fake: FakeLLM, streamed: bool, scripted: dict[str, Any], expected: Usage
) -> None:
    fake.push(FakeReply(text="ok", usage=scripted))

    assert call(model_request(fake), streamed).usage == expected


@pytest.mark.parametrize("text", ["", "Let me check."], ids=["tools-only", "text-and-tools"])
@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
def test_tool_calls_come_back_openai_shaped(fake: FakeLLM, streamed: bool, text: str) -> None:
    fake.push(FakeReply(text=text, tool_calls=[WEATHER_CALL, TIME_CALL]))

    received = stream_items(model_request(fake), streamed)

    assert "".join(texts(received)) == (text if streamed else "")
    reply = final_reply(received)
    assert reply.message == {
        "role": "assistant",
        "content": text or None,
        "tool_calls": [WEATHER_CALL, TIME_CALL],
    }
    assert reply.finish_reason == "tool_use"


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
def test_400_carries_the_upstream_message_and_status(fake: FakeLLM, streamed: bool) -> None:
    body = {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "max_tokens: Field required"},
    }
    fake.push(FakeReply(status=400, error_body=body))

    with pytest.raises(UpstreamError) as raised:
        call(model_request(fake), streamed)

    assert raised.value.status == 400
    assert raised.value.message == "HTTP 400: max_tokens: Field required"
    assert raised.value.retry_after is None


@pytest.mark.parametrize("status", [401, 429, 500, 529])
@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
def test_error_statuses_carry_status_and_retry_after_but_never_the_key(
    fake: FakeLLM, status: int, streamed: bool
) -> None:
    fake.push(FakeReply(status=status, headers={"retry-after": "7"}))

    with pytest.raises(UpstreamError) as raised:
        call(model_request(fake, api_key="sk-ant-very-secret"), streamed)

    assert (raised.value.status, raised.value.retry_after) == (status, 7.0)
    assert str(raised.value) == f"HTTP {status}: The fake LLM was scripted to fail with HTTP {status}."


def test_an_error_event_midway_is_an_upstream_error(fake: FakeLLM) -> None:
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    fake.push(FakeReply(text="one two", error_body=overloaded))

    received, error = failure(model_request(fake))

    assert texts(received) == ["one ", "two"]
    assert not any(isinstance(item, ModelReply) for item in received)
    assert isinstance(error, UpstreamError)
    assert error.message == "anthropic stream failed: Overloaded"
    assert error.status == 529


def test_a_slow_answer_times_out(fake: FakeLLM) -> None:
    fake.push(FakeReply(text="too late", delay_seconds=1.0))

    started = time.monotonic()
    with pytest.raises(UpstreamTimeout):
        call(model_request(fake, timeout_seconds=0.3))

    assert time.monotonic() - started < 0.9


@pytest.mark.parametrize(
    "reply",
    [FakeReply(text="too late", delay_seconds=1.0), FakeReply(text="slow drip", chunk_delay_seconds=1.0)],
    ids=["slow-to-start", "stalled"],
)
def test_a_slow_or_stalled_stream_times_out(fake: FakeLLM, reply: FakeReply) -> None:
    fake.push(reply)

    received, error = failure(model_request(fake, timeout_seconds=0.3))

    assert received == []
    assert isinstance(error, UpstreamTimeout)


@pytest.mark.parametrize(("cut_after", "read"), [(2, ["one ", "two "]), (100, ["one ", "two ", "three"])])
def test_a_stream_cut_before_message_stop_is_an_upstream_error(
    fake: FakeLLM, cut_after: int, read: list[str]
) -> None:
    fake.push(FakeReply(text="one two three", cut_after_chunks=cut_after))

    received, error = failure(model_request(fake))

    assert texts(received) == read
    assert not any(isinstance(item, ModelReply) for item in received)
    assert isinstance(error, UpstreamError)


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
def test_connection_refused_is_an_upstream_error(streamed: bool) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    request = ModelRequest(
        provider="anthropic",
        model="claude-sonnet-4-5",
        messages=[{"role": "user", "content": "Hi"}],
        base_url=f"http://127.0.0.1:{closed_port}",
        api_key="k",
    )

    with pytest.raises(UpstreamError) as raised:
        call(request, streamed)

    assert "Connection refused" in str(raised.value)
    assert raised.value.status is None


def test_a_prompt_too_long_answer_is_a_context_window_error(fake: FakeLLM) -> None:
    body = {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "prompt is too long: 210000 tokens > 200000 maximum",
        },
    }
    fake.push(FakeReply(status=400, error_body=body))
    with pytest.raises(ContextWindowExceeded, match="prompt is too long") as raised:
        run(model_request(fake))
    assert raised.value.upstream
