"""Reasoning comes back from each provider (OpenAI `reasoning_content`, Anthropic `thinking` blocks, Gemini
`thought` parts) streamed and not, never mixed into the answer; and the fake LLM's unscripted answers in
each dialect: tool results, forced tool calls, `call:<name>`, JSON by schema and attachments."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from chatloom.domain.model_options import (
    JsonObjectFormat,
    JsonSchemaFormat,
    ModelOptions,
    ToolChoice,
)
from chatloom.testing.fake_anthropic import AnthropicMessagesDialect
from chatloom.testing.fake_gemini import GeminiDialect
from chatloom.testing.fake_llm import FakeLLM, FakeReply
from tests.providers.options_support import TIME_TOOL, WEATHER_TOOL, call, request_for

PROVIDERS = pytest.mark.parametrize("provider", ["openai", "anthropic", "google"])
BOTH = pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
TOOLS = [WEATHER_TOOL, TIME_TOOL]
CITY = {"type": "object", "properties": {"city": {"type": "string", "minLength": 2}}, "required": ["city"]}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLM]:
    with FakeLLM().start() as server:
        yield server


@pytest.fixture(autouse=True)
def _reset(fake: FakeLLM) -> None:
    fake.reset()


def calls(provider: str, fake: FakeLLM, streamed: bool = False, **fields: Any) -> list[tuple[str, Any]]:
    reply = call(request_for(fake, provider, **fields), streamed)
    return [
        (tool["function"]["name"], orjson.loads(tool["function"]["arguments"]))
        for tool in reply.message.get("tool_calls") or ()
    ]


@PROVIDERS
@BOTH
def test_reasoning_is_read_back_apart_from_the_answer(fake: FakeLLM, provider: str, streamed: bool) -> None:
    fake.push(FakeReply(text="42", reasoning=["Six times seven."]))
    reply = call(request_for(fake, provider), streamed)
    assert reply.reasoning == ("Six times seven.",)
    assert reply.message.get("content") == "42"


@PROVIDERS
def test_several_reasoning_parts(fake: FakeLLM, provider: str) -> None:
    fake.push(FakeReply(text="ok", reasoning=["First.", "Second."]))
    reply = call(request_for(fake, provider))
    expected = ("First.\n\nSecond.",) if provider == "openai" else ("First.", "Second.")
    assert reply.reasoning == expected


@PROVIDERS
def test_no_reasoning_reads_back_as_none(fake: FakeLLM, provider: str) -> None:
    assert call(request_for(fake, provider), streamed=True).reasoning == ()


@pytest.mark.parametrize("provider", ["openai", "google"])
def test_after_tool_results_the_fake_repeats_them(fake: FakeLLM, provider: str) -> None:
    messages = [
        {"role": "user", "content": "Weather and time?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}},
                {"id": "c2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "7C, rain"},
        {"role": "tool", "tool_call_id": "c2", "content": "noon"},
    ]
    reply = call(request_for(fake, provider, messages=messages, tools=TOOLS))
    assert reply.message.get("content") == "Tool said: 7C, rain, noon"


@PROVIDERS
@BOTH
def test_a_forced_tool_is_called_with_minimal_valid_arguments(
    fake: FakeLLM, provider: str, streamed: bool
) -> None:
    forced = ModelOptions(ToolChoice("required"))
    assert calls(provider, fake, streamed, tools=TOOLS, options=forced) == [
        ("get_weather", {"city": "", "unit": "celsius"})
    ]
    named = ModelOptions(ToolChoice(name="get_time"))
    assert calls(provider, fake, streamed, tools=TOOLS, options=named) == [("get_time", {})]


@PROVIDERS
def test_call_mentions_call_each_named_tool(fake: FakeLLM, provider: str) -> None:
    text = "Please call:get_time and call:get_weather, not call:unknown"
    assert [name for name, _ in calls(provider, fake, text=text, tools=TOOLS)] == ["get_time", "get_weather"]


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_call_mentions_without_parallel_calls_call_one(fake: FakeLLM, provider: str) -> None:
    options = ModelOptions(parallel_tool_calls=False)
    text = "call:get_time call:get_weather"
    assert [name for name, _ in calls(provider, fake, text=text, tools=TOOLS, options=options)] == [
        "get_time"
    ]


@PROVIDERS
@BOTH
def test_json_by_schema_is_its_minimal_instance(fake: FakeLLM, provider: str, streamed: bool) -> None:
    options = ModelOptions(output_format=JsonSchemaFormat("city", CITY))
    reply = call(request_for(fake, provider, options=options), streamed)
    assert orjson.loads(str(reply.message.get("content"))) == {"city": "xx"}


@pytest.mark.parametrize("provider", ["openai", "google"])
def test_json_mode_is_an_empty_object(fake: FakeLLM, provider: str) -> None:
    reply = call(request_for(fake, provider, options=ModelOptions(output_format=JsonObjectFormat())))
    assert reply.message.get("content") == "{}"


def test_attachments_are_mentioned(fake: FakeLLM) -> None:
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "file", "file": {"file_id": "file-1"}},
        {"type": "file", "file": {"file_id": "file-2"}},
    ]
    reply = call(request_for(fake, "openai", messages=[{"role": "user", "content": content}]))
    assert reply.message.get("content") == "You said: What is this? [1 image, 2 files]"


def test_attachments_are_mentioned_in_every_dialect() -> None:
    anthropic_body = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Read this"},
                    {"type": "document", "source": {"type": "base64", "data": "AAAA"}},
                ],
            }
        ]
    }
    gemini_body = {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": "Look"},
                    {"inlineData": {"mimeType": "image/png", "data": "AAAA"}},
                    {"fileData": {"mimeType": "image/jpeg", "fileUri": "gs://x"}},
                ],
            }
        ]
    }
    assert AnthropicMessagesDialect().default_reply(anthropic_body).text == "You said: Read this [1 file]"
    assert GeminiDialect().default_reply(gemini_body).text == "You said: Look [2 images]"


@PROVIDERS
def test_no_tool_call_when_the_choice_is_none(fake: FakeLLM, provider: str) -> None:
    options = ModelOptions(ToolChoice("none"))
    reply = call(request_for(fake, provider, text="call:get_time", tools=TOOLS, options=options))
    assert reply.message.get("content") == "You said: call:get_time"
