"""OpenAICompatibleProvider against a real FakeLLM on loopback: codec, streaming, usage and error mapping."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest

from chatloom.domain.errors import UpstreamError, UpstreamTimeout
from chatloom.domain.events import ModelReply, TextChunk
from chatloom.domain.messages import Message
from chatloom.providers.base import ModelRequest
from chatloom.providers.openai_compat import OpenAICompatibleProvider
from chatloom.testing.fake_llm import FakeLLM, FakeReply

WEATHER_CALL = {
    "id": "call_weather",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris", "unit": "celsius"}'},
}
TIME_CALL = {
    "id": "call_time",
    "type": "function",
    "function": {"name": "get_time", "arguments": '{"tz": "CET"}'},
}
CACHED_USAGE = {
    "prompt_tokens": 1200,
    "completion_tokens": 30,
    "total_tokens": 1230,
    "prompt_tokens_details": {"cached_tokens": 1024},
    "completion_tokens_details": {"reasoning_tokens": 12},
}


def model_request(fake: FakeLLM, **overrides: Any) -> ModelRequest:
    fields: dict[str, Any] = {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"}],
        "base_url": fake.base_url,
        "api_key": "sk-test",
    }
    fields.update(overrides)
    return ModelRequest(**fields)


def complete(request: ModelRequest) -> ModelReply:
    async def call() -> ModelReply:
        provider = OpenAICompatibleProvider()
        try:
            return await provider.complete(request)
        finally:
            await provider.aclose()

    return asyncio.run(call())


def stream(request: ModelRequest) -> list[tuple[float, TextChunk | ModelReply]]:
    """Every streamed item with the monotonic time it arrived."""

    async def call() -> list[tuple[float, TextChunk | ModelReply]]:
        provider = OpenAICompatibleProvider()
        try:
            return [(time.monotonic(), item) async for item in provider.stream(request)]
        finally:
            await provider.aclose()

    return asyncio.run(call())


def stream_until_error(request: ModelRequest) -> tuple[list[TextChunk | ModelReply], Exception]:
    received: list[TextChunk | ModelReply] = []

    async def call() -> Exception:
        provider = OpenAICompatibleProvider()
        try:
            async for item in provider.stream(request):
                received.append(item)
        except Exception as error:
            return error
        finally:
            await provider.aclose()
        raise AssertionError(f"the stream ended without an error after {received!r}")

    return received, asyncio.run(call())


def streamed_items(request: ModelRequest) -> list[TextChunk | ModelReply]:
    return [item for _, item in stream(request)]


def final_reply(items: list[TextChunk | ModelReply]) -> ModelReply:
    replies = [item for item in items if isinstance(item, ModelReply)]
    assert len(replies) == 1
    assert items[-1] is replies[0]
    return replies[0]


def test_complete_returns_the_text_usage_model_and_finish_reason(fake_llm: FakeLLM) -> None:
    fake_llm.push(FakeReply(text="Hello back", model="gpt-4o-mini-2024-07-18"))

    reply = complete(model_request(fake_llm))

    assert reply.message == {"role": "assistant", "content": "Hello back"}
    assert reply.model == "gpt-4o-mini-2024-07-18"
    assert reply.finish_reason == "stop"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (10, 2)
    assert (reply.usage.cached_prompt_tokens, reply.usage.reasoning_tokens) == (0, 0)


def test_unscripted_requests_get_the_deterministic_echo_concurrently(fake_llm: FakeLLM) -> None:
    async def call_many() -> list[ModelReply]:
        provider = OpenAICompatibleProvider()
        try:
            requests = [
                model_request(fake_llm, messages=[{"role": "user", "content": f"number {n}"}])
                for n in range(20)
            ]
            return await asyncio.gather(*(provider.complete(request) for request in requests))
        finally:
            await provider.aclose()

    replies = asyncio.run(call_many())

    assert [reply.message.get("content") for reply in replies] == [f"You said: number {n}" for n in range(20)]
    assert all(reply.model == "gpt-4o-mini" for reply in replies)
    assert len(fake_llm.requests) == 20


def test_stream_yields_chunks_in_order_as_they_arrive_then_one_reply(fake_llm: FakeLLM) -> None:
    fake_llm.push(
        FakeReply(text="Hello brave world", chunks=["Hel", "lo brave", " world"], chunk_delay_seconds=0.05)
    )

    timed_items = stream(model_request(fake_llm))

    items = [item for _, item in timed_items]
    chunk_times = [at for at, item in timed_items if isinstance(item, TextChunk)]
    assert [item.text for item in items if isinstance(item, TextChunk)] == ["Hel", "lo brave", " world"]
    assert chunk_times[-1] - chunk_times[0] >= 0.08
    reply = final_reply(items)
    assert reply.message == {"role": "assistant", "content": "Hello brave world"}
    assert reply.finish_reason == "stop"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (10, 3)


def test_stream_of_the_default_reply_concatenates_to_the_echo(fake_llm: FakeLLM) -> None:
    items = streamed_items(model_request(fake_llm))

    text = "".join(item.text for item in items if isinstance(item, TextChunk))
    assert text == "You said: Hi there"
    assert final_reply(items).message.get("content") == text


def test_tool_calls_without_streaming(fake_llm: FakeLLM) -> None:
    fake_llm.push(FakeReply(tool_calls=[WEATHER_CALL, TIME_CALL]))

    reply = complete(
        model_request(fake_llm, tools=[{"type": "function", "function": {"name": "get_weather"}}])
    )

    assert reply.message == {"role": "assistant", "content": None, "tool_calls": [WEATHER_CALL, TIME_CALL]}
    assert reply.finish_reason == "tool_calls"


def test_streamed_tool_calls_are_assembled_by_index(fake_llm: FakeLLM) -> None:
    fake_llm.push(FakeReply(text="Let me check.", tool_calls=[WEATHER_CALL, TIME_CALL]))

    items = streamed_items(model_request(fake_llm))

    assert "".join(item.text for item in items if isinstance(item, TextChunk)) == "Let me check."
    reply = final_reply(items)
    assert reply.message == {
        "role": "assistant",
        "content": "Let me check.",
        "tool_calls": [WEATHER_CALL, TIME_CALL],
    }
    assert reply.finish_reason == "tool_calls"


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
def test_usage_includes_cached_and_reasoning_tokens(fake_llm: FakeLLM, streamed: bool) -> None:
    fake_llm.push(FakeReply(text="ok", usage=CACHED_USAGE))

    request = model_request(fake_llm)
    reply = final_reply(streamed_items(request)) if streamed else complete(request)

    assert reply.usage.prompt_tokens == 1200
    assert reply.usage.completion_tokens == 30
    assert reply.usage.cached_prompt_tokens == 1024
    assert reply.usage.reasoning_tokens == 12


def test_openai_request_carries_auth_headers_and_the_exact_body(fake_llm: FakeLLM) -> None:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    messages: list[Message] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather?", "metadata": {"source": "web"}},
        {"role": "assistant", "content": None, "tool_calls": [WEATHER_CALL]},
        {"role": "tool", "content": "18C", "tool_call_id": "call_weather", "name": "get_weather"},
    ]
    request = model_request(
        fake_llm,
        messages=messages,
        headers={"X-Org": "acme"},
        temperature=0.2,
        max_tokens=256,
        tools=tools,
        extra={"top_p": 0.5},
    )

    complete(request)

    [recorded] = fake_llm.requests
    assert recorded.path == "/v1/chat/completions"
    assert recorded.headers["Authorization"] == "Bearer sk-test"
    assert recorded.headers["x-org"] == "acme"
    assert recorded.headers["content-type"] == "application/json"
    assert recorded.json == {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": None, "tool_calls": [WEATHER_CALL]},
            {"role": "tool", "content": "18C", "tool_call_id": "call_weather", "name": "get_weather"},
        ],
        "temperature": 0.2,
        "max_completion_tokens": 256,
        "tools": tools,
        "top_p": 0.5,
    }


def test_other_vendors_get_max_tokens_and_streams_ask_for_usage(fake_llm: FakeLLM) -> None:
    request = model_request(fake_llm, provider="groq", model="llama-3.3-70b", api_key=None, max_tokens=64)

    streamed_items(request)

    [recorded] = fake_llm.requests
    assert "authorization" not in recorded.headers
    assert recorded.json == {
        "model": "llama-3.3-70b",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"}],
        "max_tokens": 64,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def test_custom_llm_base_url_without_v1_and_with_a_trailing_slash(fake_llm: FakeLLM) -> None:
    reply = complete(
        model_request(fake_llm, provider="custom-llm", api_key=None, base_url=fake_llm.root_url + "/")
    )

    assert reply.message.get("content") == "You said: Hi there"
    assert fake_llm.requests[0].path == "/chat/completions"


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
def test_400_carries_the_upstream_message_and_status(fake_llm: FakeLLM, streamed: bool) -> None:
    body = {
        "error": {
            "message": "Invalid value for 'temperature'.",
            "type": "invalid_request_error",
            "code": None,
        }
    }
    fake_llm.push(FakeReply(status=400, error_body=body))

    with pytest.raises(UpstreamError) as raised:
        streamed_items(model_request(fake_llm)) if streamed else complete(model_request(fake_llm))

    assert raised.value.status == 400
    assert raised.value.message == "HTTP 400: Invalid value for 'temperature'."
    assert raised.value.retry_after is None


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
def test_429_carries_retry_after(fake_llm: FakeLLM, streamed: bool) -> None:
    fake_llm.push(FakeReply(status=429, headers={"Retry-After": "7"}))

    with pytest.raises(UpstreamError) as raised:
        streamed_items(model_request(fake_llm)) if streamed else complete(model_request(fake_llm))

    assert raised.value.status == 429
    assert raised.value.retry_after == 7.0
    assert str(raised.value).startswith("HTTP 429: ")


def test_500_is_an_upstream_error(fake_llm: FakeLLM) -> None:
    fake_llm.push(FakeReply(status=500))

    with pytest.raises(UpstreamError) as raised:
        complete(model_request(fake_llm))

    assert raised.value.status == 500
    assert str(raised.value).startswith("HTTP 500: ")


def test_error_message_never_contains_the_api_key(fake_llm: FakeLLM) -> None:
    fake_llm.push(FakeReply(status=401))

    with pytest.raises(UpstreamError) as raised:
        complete(model_request(fake_llm, api_key="sk-very-secret"))

    assert raised.value.status == 401
    assert "sk-very-secret" not in str(raised.value)


def test_a_slow_answer_times_out(fake_llm: FakeLLM) -> None:
    fake_llm.push(FakeReply(text="too late", delay_seconds=1.0))

    started = time.monotonic()
    with pytest.raises(UpstreamTimeout):
        complete(model_request(fake_llm, timeout_seconds=0.3))

    assert time.monotonic() - started < 0.9


def test_a_stream_slow_to_start_times_out(fake_llm: FakeLLM) -> None:
    fake_llm.push(FakeReply(text="too late", delay_seconds=1.0))

    received, error = stream_until_error(model_request(fake_llm, timeout_seconds=0.3))

    assert received == []
    assert isinstance(error, UpstreamTimeout)


def test_a_long_stream_is_fine_but_a_stalled_one_times_out(fake_llm: FakeLLM) -> None:
    fake_llm.push(
        FakeReply(text="a b c", chunk_delay_seconds=0.1),
        FakeReply(text="slow drip", chunk_delay_seconds=1.0),
    )

    long_stream = streamed_items(model_request(fake_llm, timeout_seconds=0.3))
    received, error = stream_until_error(model_request(fake_llm, timeout_seconds=0.3))

    assert final_reply(long_stream).message.get("content") == "a b c"
    assert received == []
    assert isinstance(error, UpstreamTimeout)


def test_a_stream_cut_midway_is_an_upstream_error_after_the_chunks_read(fake_llm: FakeLLM) -> None:
    fake_llm.push(FakeReply(text="one two three four", cut_after_chunks=2))

    received, error = stream_until_error(model_request(fake_llm))

    assert [item.text for item in received if isinstance(item, TextChunk)] == ["one ", "two "]
    assert not any(isinstance(item, ModelReply) for item in received)
    assert isinstance(error, UpstreamError)


def test_a_stream_cut_after_the_last_chunk_but_before_done_is_an_upstream_error(fake_llm: FakeLLM) -> None:
    fake_llm.push(FakeReply(text="almost done", cut_after_chunks=100))

    received, error = stream_until_error(model_request(fake_llm))

    assert "".join(item.text for item in received if isinstance(item, TextChunk)) == "almost done"
    assert not any(isinstance(item, ModelReply) for item in received)
    assert isinstance(error, UpstreamError)


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
def test_connection_refused_is_an_upstream_error(streamed: bool) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    request = ModelRequest(
        provider="openai",
        model="gpt-4o",
        messages=[],
        base_url=f"http://127.0.0.1:{closed_port}/v1",
        api_key="k",
    )

    with pytest.raises(UpstreamError) as raised:
        streamed_items(request) if streamed else complete(request)

    assert "Connection refused" in str(raised.value)
    assert raised.value.status is None
