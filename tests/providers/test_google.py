"""GoogleProvider against a real FakeLLM speaking the Gemini dialect: codec, streaming, usage and errors."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest

from chatloom.domain.errors import ContextWindowExceeded, UpstreamError, UpstreamTimeout
from chatloom.domain.events import ModelReply, TextChunk
from chatloom.domain.messages import Message, ToolCall
from chatloom.providers.base import ModelRequest
from chatloom.providers.google import GoogleProvider, generate_url
from chatloom.testing.fake_gemini import GeminiDialect
from chatloom.testing.fake_llm import FakeLLM, FakeReply

WEATHER_CALL: ToolCall = {
    "id": "call_weather",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city":"Paris","unit":"celsius"}'},
}
TIME_CALL: ToolCall = {
    "id": "call_time",
    "type": "function",
    "function": {"name": "get_time", "arguments": '{"tz":"CET"}'},
}
SIGNATURE = {"thoughtSignature": "skip_thought_signature_validator"}
T = TypeVar("T")
BOTH = pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
GEMINI_USAGE = {
    "promptTokenCount": 1200,
    "candidatesTokenCount": 30,
    "cachedContentTokenCount": 1024,
    "thoughtsTokenCount": 12,
}


@pytest.fixture(scope="module")
def gemini() -> Iterator[FakeLLM]:
    with FakeLLM(dialects=[GeminiDialect()]).start() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _reset_gemini(gemini: FakeLLM) -> None:
    gemini.reset()


def model_request(fake: FakeLLM, **overrides: Any) -> ModelRequest:
    fields: dict[str, Any] = {
        "provider": "google",
        "model": "gemini-2.5-flash",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"}],
        "base_url": fake.root_url,
        "api_key": "AIza-test",
    }
    fields.update(overrides)
    return ModelRequest(**fields)


def with_provider(call: Callable[[GoogleProvider], Awaitable[T]]) -> T:
    async def run() -> T:
        provider = GoogleProvider()
        try:
            return await call(provider)
        finally:
            await provider.aclose()

    return asyncio.run(run())


def complete(request: ModelRequest) -> ModelReply:
    return with_provider(lambda provider: provider.complete(request))


def stream(request: ModelRequest) -> list[tuple[float, TextChunk | ModelReply]]:
    """Every streamed item with the monotonic time it arrived."""

    async def call(provider: GoogleProvider) -> list[tuple[float, TextChunk | ModelReply]]:
        return [(time.monotonic(), item) async for item in provider.stream(request)]

    return with_provider(call)


def streamed_items(request: ModelRequest) -> list[TextChunk | ModelReply]:
    return [item for _, item in stream(request)]


def stream_until_error(request: ModelRequest) -> tuple[list[TextChunk | ModelReply], Exception]:
    received: list[TextChunk | ModelReply] = []

    async def call(provider: GoogleProvider) -> Exception:
        try:
            async for item in provider.stream(request):
                received.append(item)
        except Exception as error:
            return error
        raise AssertionError(f"the stream ended without an error after {received!r}")

    return received, with_provider(call)


def items_of(request: ModelRequest, streamed: bool) -> list[TextChunk | ModelReply]:
    return streamed_items(request) if streamed else [complete(request)]


def call_once(request: ModelRequest, streamed: bool) -> ModelReply:
    return final_reply(items_of(request, streamed))


def final_reply(items: list[TextChunk | ModelReply]) -> ModelReply:
    replies = [item for item in items if isinstance(item, ModelReply)]
    assert len(replies) == 1
    assert items[-1] is replies[0]
    return replies[0]


def texts(items: list[TextChunk | ModelReply]) -> list[str]:
    return [item.text for item in items if isinstance(item, TextChunk)]


def call_part(call_id: str, name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"functionCall": {"id": call_id, "name": name, "args": args}}


def response_part(name: str, call_id: str, response: dict[str, Any]) -> dict[str, Any]:
    return {"functionResponse": {"name": name, "id": call_id, "response": response}}


def test_request_carries_the_key_header_and_the_exact_body(gemini: FakeLLM) -> None:
    weather_parameters = {"type": "object", "properties": {"city": {"type": "string"}}}
    tools = [
        {
            "type": "function",
            "function": {"name": "get_weather", "description": "Weather.", "parameters": weather_parameters},
        },
        {"type": "function", "function": {"name": "get_time"}},
    ]
    messages: list[Message] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather and time?", "metadata": {"source": "web"}},
        {"role": "user", "content": "In Paris."},
        {"role": "developer", "content": "Use metric units."},
        {"role": "assistant", "content": "Checking.", "tool_calls": [WEATHER_CALL, TIME_CALL]},
        {"role": "tool", "content": '{"temp": 18}', "tool_call_id": "call_weather"},
        {"role": "tool", "content": "14:05", "tool_call_id": "call_time", "name": "ignored"},
        {"role": "assistant", "content": "18C at 14:05."},
        {"role": "user", "content": "Thanks"},
    ]
    safety = [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]
    request = model_request(
        gemini,
        messages=messages,
        headers={"X-Goog-User-Project": "acme"},
        temperature=0.2,
        max_tokens=256,
        thinking_budget_tokens=0,
        tools=tools,
        extra={"safetySettings": safety},
    )

    complete(request)

    [recorded] = gemini.requests
    assert recorded.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert recorded.headers["x-goog-api-key"] == "AIza-test"
    assert recorded.headers["x-goog-user-project"] == "acme"
    assert recorded.headers["content-type"] == "application/json"
    assert "authorization" not in recorded.headers
    weather_call = call_part("call_weather", "get_weather", {"city": "Paris", "unit": "celsius"})
    assert recorded.json == {
        "systemInstruction": {"parts": [{"text": "Be brief.\n\nUse metric units."}]},
        "contents": [
            {"role": "user", "parts": [{"text": "Weather and time?"}, {"text": "In Paris."}]},
            {
                "role": "model",
                "parts": [
                    {"text": "Checking."},
                    weather_call | SIGNATURE,
                    call_part("call_time", "get_time", {"tz": "CET"}),
                ],
            },
            {
                "role": "user",
                "parts": [
                    response_part("get_weather", "call_weather", {"temp": 18}),
                    response_part("get_time", "call_time", {"result": "14:05"}),
                ],
            },
            {"role": "model", "parts": [{"text": "18C at 14:05."}]},
            {"role": "user", "parts": [{"text": "Thanks"}]},
        ],
        "generationConfig": {
            "temperature": 0.2,
            "maxOutputTokens": 256,
            "thinkingConfig": {"thinkingBudget": 0},
        },
        "tools": [
            {
                "functionDeclarations": [
                    {"name": "get_weather", "description": "Weather.", "parameters": weather_parameters},
                    {"name": "get_time"},
                ]
            }
        ],
        "safetySettings": safety,
    }


def test_odd_tool_arguments_and_results_still_make_a_valid_body(gemini: FakeLLM) -> None:
    odd_call: ToolCall = {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "no"}}
    messages: list[Message] = [
        {"role": "user", "content": "Go"},
        {"role": "assistant", "content": None, "tool_calls": [odd_call]},
        {"role": "tool", "content": "[1, 2]", "tool_call_id": "c1"},
        {"role": "tool", "content": "{}", "tool_call_id": "unknown", "name": "fallback_name"},
    ]

    complete(model_request(gemini, messages=messages, api_key=None))

    [recorded] = gemini.requests
    assert "x-goog-api-key" not in recorded.headers
    assert recorded.json == {
        "contents": [
            {"role": "user", "parts": [{"text": "Go"}]},
            {"role": "model", "parts": [call_part("c1", "lookup", {}) | SIGNATURE]},
            {
                "role": "user",
                "parts": [
                    response_part("lookup", "c1", {"result": "[1, 2]"}),
                    response_part("fallback_name", "unknown", {}),
                ],
            },
        ]
    }


def test_urls_for_bases_with_and_without_a_version_and_prefixed_models() -> None:
    def url(base_url: str, model: str, stream: bool = False) -> str:
        return generate_url(ModelRequest("google", model, [], base_url, api_key="AIza-secret"), stream)

    default = "https://generativelanguage.googleapis.com"
    assert url(default, "gemini-2.5-flash") == f"{default}/v1beta/models/gemini-2.5-flash:generateContent"
    assert url(default + "/", "models/gemini-2.5-pro", stream=True) == (
        f"{default}/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
    )
    assert url(f"{default}/v1", "gemini-2.0-flash") == f"{default}/v1/models/gemini-2.0-flash:generateContent"
    assert url(f"{default}/v1beta/", "tunedModels/x") == f"{default}/v1beta/tunedModels/x:generateContent"
    assert url("", "gemini-2.5-flash").startswith(f"{default}/v1beta/models/")
    assert "AIza-secret" not in url(default, "gemini-2.5-flash", stream=True)


@BOTH
def test_the_default_reply_through_a_versioned_base_and_a_prefixed_model(
    gemini: FakeLLM, streamed: bool
) -> None:
    request = model_request(gemini, base_url=gemini.base_url + "/", model="models/gemini-2.0-flash")

    items = items_of(request, streamed)

    method = "streamGenerateContent" if streamed else "generateContent"
    assert gemini.requests[0].path == f"/v1/models/gemini-2.0-flash:{method}"
    assert "".join(texts(items)) == ("You said: Hi there" if streamed else "")
    reply = final_reply(items)
    assert (reply.message.get("content"), reply.model) == ("You said: Hi there", "gemini-2.0-flash")
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (10, 4)


def test_complete_returns_the_text_usage_model_and_finish_reason(gemini: FakeLLM) -> None:
    gemini.push(FakeReply(text="Hello back", model="gemini-2.5-flash-001"), FakeReply(text="Again"))

    reply = complete(model_request(gemini))
    unversioned = complete(model_request(gemini))

    assert reply.message == {"role": "assistant", "content": "Hello back"}
    assert reply.model == "gemini-2.5-flash-001"
    assert reply.finish_reason == "STOP"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (10, 2)
    assert (reply.usage.cached_prompt_tokens, reply.usage.reasoning_tokens) == (0, 0)
    assert unversioned.model == "gemini-2.5-flash"
    assert "generationConfig" not in gemini.requests[0].json


def test_stream_yields_chunks_in_order_as_they_arrive_then_one_reply(gemini: FakeLLM) -> None:
    chunks = ["Hel", "lo brave", " world"]
    gemini.push(FakeReply(chunks=chunks, usage=GEMINI_USAGE, chunk_delay_seconds=0.05, model="gemini-x-002"))

    timed_items = stream(model_request(gemini))

    items = [item for _, item in timed_items]
    chunk_times = [at for at, item in timed_items if isinstance(item, TextChunk)]
    assert texts(items) == chunks
    assert chunk_times[-1] - chunk_times[0] >= 0.08
    assert gemini.requests[0].path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    reply = final_reply(items)
    assert reply.message == {"role": "assistant", "content": "Hello brave world"}
    assert (reply.finish_reason, reply.model) == ("STOP", "gemini-x-002")
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (1200, 42)
    assert (reply.usage.cached_prompt_tokens, reply.usage.reasoning_tokens) == (1024, 12)


@BOTH
def test_usage_counts_thoughts_as_completion_and_maps_openai_keys(gemini: FakeLLM, streamed: bool) -> None:
    gemini.push(
        FakeReply(text="ok", usage=GEMINI_USAGE),
        FakeReply(text="ok", usage={"prompt_tokens": 50, "completion_tokens": 7}),
    )

    native = call_once(model_request(gemini), streamed)
    mapped = call_once(model_request(gemini), streamed)

    assert (native.usage.prompt_tokens, native.usage.completion_tokens) == (1200, 42)
    assert (native.usage.cached_prompt_tokens, native.usage.reasoning_tokens) == (1024, 12)
    assert (mapped.usage.prompt_tokens, mapped.usage.completion_tokens) == (50, 7)


@BOTH
def test_tool_calls_keep_gemini_ids_and_arguments(gemini: FakeLLM, streamed: bool) -> None:
    gemini.push(
        FakeReply(text="Let me check.", tool_calls=[dict[str, Any](WEATHER_CALL), dict[str, Any](TIME_CALL)])
    )

    items = items_of(model_request(gemini), streamed)

    assert texts(items) == (["Let ", "me ", "check."] if streamed else [])
    reply = final_reply(items)
    assert reply.message == {
        "role": "assistant",
        "content": "Let me check.",
        "tool_calls": [WEATHER_CALL, TIME_CALL],
    }
    assert reply.finish_reason == "STOP"


@BOTH
def test_tool_calls_without_ids_get_unique_generated_ones(gemini: FakeLLM, streamed: bool) -> None:
    functions = [WEATHER_CALL["function"], TIME_CALL["function"]]
    gemini.push(
        FakeReply(tool_calls=[{"type": "function", "function": dict(function)} for function in functions])
    )

    reply = call_once(model_request(gemini), streamed)

    calls = reply.message.get("tool_calls") or []
    assert reply.message.get("content") is None
    assert [call["function"] for call in calls] == functions
    assert all(re.fullmatch(r"call_[0-9a-f]{24}", call["id"]) for call in calls)
    assert calls[0]["id"] != calls[1]["id"]


@BOTH
def test_thought_parts_are_not_part_of_the_answer(gemini: FakeLLM, streamed: bool) -> None:
    parts = [{"text": "Pondering the weather…", "thought": True}, {"text": "Sunny."}]
    body = {
        "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2, "thoughtsTokenCount": 40},
    }
    gemini.push(FakeReply(error_body=body))

    items = items_of(model_request(gemini), streamed)

    assert texts(items) == (["Sunny."] if streamed else [])
    reply = final_reply(items)
    assert reply.message == {"role": "assistant", "content": "Sunny."}
    assert (reply.usage.completion_tokens, reply.usage.reasoning_tokens) == (42, 40)


@BOTH
def test_400_carries_the_upstream_message_and_status_but_never_the_key(
    gemini: FakeLLM, streamed: bool
) -> None:
    message = "* GenerateContentRequest.contents: contents is not specified"
    gemini.push(
        FakeReply(
            status=400, error_body={"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}
        )
    )

    with pytest.raises(UpstreamError) as raised:
        call_once(model_request(gemini, api_key="AIza-very-secret"), streamed)

    assert raised.value.status == 400
    assert raised.value.message == f"HTTP 400: {message}"
    assert raised.value.retry_after is None
    assert "AIza-very-secret" not in str(raised.value)


@pytest.mark.parametrize(
    ("status", "headers", "retry_after"), [(429, {"Retry-After": "7"}, 7.0), (500, {}, None), (503, {}, None)]
)
@BOTH
def test_rate_limits_and_server_errors_are_upstream_errors(
    gemini: FakeLLM, status: int, headers: dict[str, str], retry_after: float | None, streamed: bool
) -> None:
    gemini.push(FakeReply(status=status, headers=headers))

    with pytest.raises(UpstreamError) as raised:
        call_once(model_request(gemini), streamed)

    assert raised.value.status == status
    assert raised.value.retry_after == retry_after
    assert str(raised.value) == f"HTTP {status}: The fake LLM was scripted to fail with HTTP {status}."


@BOTH
def test_a_slow_answer_times_out(gemini: FakeLLM, streamed: bool) -> None:
    gemini.push(FakeReply(text="too late", delay_seconds=1.0))

    started = time.monotonic()
    with pytest.raises(UpstreamTimeout):
        call_once(model_request(gemini, timeout_seconds=0.3), streamed)

    assert time.monotonic() - started < 0.9


def test_a_stalled_stream_times_out_after_its_first_chunk(gemini: FakeLLM) -> None:
    gemini.push(FakeReply(text="slow drip", chunk_delay_seconds=1.0))

    received, error = stream_until_error(model_request(gemini, timeout_seconds=0.3))

    assert texts(received) == ["slow "]
    assert isinstance(error, UpstreamTimeout)


def test_a_stream_cut_midway_is_an_upstream_error_after_the_chunks_read(gemini: FakeLLM) -> None:
    gemini.push(FakeReply(text="one two three four", cut_after_chunks=2))

    received, error = stream_until_error(model_request(gemini))

    assert texts(received) == ["one ", "two "]
    assert not any(isinstance(item, ModelReply) for item in received)
    assert isinstance(error, UpstreamError)


def test_a_stream_dropped_after_its_finish_reason_chunk_is_complete(gemini: FakeLLM) -> None:
    gemini.push(FakeReply(text="all of it", cut_after_chunks=100), FakeReply(text="next"))

    reply = final_reply(streamed_items(model_request(gemini)))
    following = complete(model_request(gemini))

    assert (reply.message.get("content"), reply.finish_reason) == ("all of it", "STOP")
    assert following.message.get("content") == "next"


def test_a_stream_that_ends_without_a_finish_reason_is_an_upstream_error(gemini: FakeLLM) -> None:
    gemini.push(
        FakeReply(error_body={"candidates": [{"content": {"role": "model", "parts": [{"text": "Half"}]}}]})
    )

    received, error = stream_until_error(model_request(gemini))

    assert texts(received) == ["Half"]
    assert isinstance(error, UpstreamError)
    assert "ended the stream early" in str(error)


def test_an_error_chunk_in_the_stream_is_an_upstream_error_with_its_status(gemini: FakeLLM) -> None:
    gemini.push(
        FakeReply(error_body={"error": {"code": 503, "message": "Overloaded.", "status": "UNAVAILABLE"}})
    )

    received, error = stream_until_error(model_request(gemini))

    assert received == []
    assert isinstance(error, UpstreamError)
    assert (error.status, error.message) == (503, "google answered with an error: Overloaded.")


@BOTH
def test_a_blocked_prompt_is_an_upstream_error_naming_the_reason(gemini: FakeLLM, streamed: bool) -> None:
    gemini.push(FakeReply(error_body={"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}}))

    with pytest.raises(UpstreamError) as raised:
        call_once(model_request(gemini), streamed)

    assert raised.value.message == "google blocked the prompt: PROHIBITED_CONTENT"
    assert raised.value.status == 400


@BOTH
def test_connection_refused_is_an_upstream_error(streamed: bool) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    messages: list[Message] = [{"role": "user", "content": "Hi"}]
    request = ModelRequest(
        "google", "gemini-2.5-flash", messages, f"http://127.0.0.1:{closed_port}", "AIza-test"
    )

    with pytest.raises(UpstreamError) as raised:
        call_once(request, streamed)

    assert "Connection refused" in str(raised.value)
    assert raised.value.status is None


def test_an_input_over_the_token_limit_is_a_context_window_error(gemini: FakeLLM) -> None:
    message = "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."
    gemini.push(
        FakeReply(
            status=400, error_body={"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}
        )
    )
    _, error = stream_until_error(model_request(gemini))
    assert isinstance(error, ContextWindowExceeded) and error.upstream
