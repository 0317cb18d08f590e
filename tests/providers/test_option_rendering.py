"""Each adapter renders the provider-neutral `ModelOptions` in its own wire terms (seen by a real FakeLLM on
loopback), refuses what its provider cannot do with a 400-class `Unsupported`, and the model caller neither
retries nor falls back on such a refusal."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from chatloom.domain.model_options import (
    NO_OPTIONS,
    JsonObjectFormat,
    JsonSchemaFormat,
    ModelOptions,
    Reasoning,
    ToolChoice,
    Unsupported,
)
from chatloom.engine.calls.models import ModelCaller, RetryPolicy
from chatloom.testing.fake_llm import FakeLLM
from tests.providers.options_support import TIME_TOOL, WEATHER_TOOL, adapter, request_for, sent

CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
TOOLS = [WEATHER_TOOL, TIME_TOOL]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLM]:
    with FakeLLM().start() as server:
        yield server


@pytest.fixture(autouse=True)
def _reset(fake: FakeLLM) -> None:
    fake.reset()


def body(fake: FakeLLM, provider: str, options: ModelOptions, **overrides: Any) -> dict[str, Any]:
    return sent(request_for(fake, provider, options=options, **overrides), fake)


@pytest.mark.parametrize("provider", ["openai", "anthropic", "google"])
def test_no_options_send_nothing_new(fake: FakeLLM, provider: str) -> None:
    plain = body(fake, provider, NO_OPTIONS, tools=TOOLS)
    default = body(fake, provider, ModelOptions(), tools=TOOLS)
    assert plain == default
    for key in ("tool_choice", "parallel_tool_calls", "response_format", "toolConfig", "metadata", "top_p"):
        assert key not in plain


@pytest.mark.parametrize(
    ("choice", "wire"),
    [
        (ToolChoice("none"), "none"),
        (ToolChoice("required"), "required"),
        (ToolChoice(name="get_time"), {"type": "function", "function": {"name": "get_time"}}),
        (
            ToolChoice("required", allowed=("get_time",)),
            {
                "type": "allowed_tools",
                "allowed_tools": {
                    "mode": "required",
                    "tools": [{"type": "function", "function": {"name": "get_time"}}],
                },
            },
        ),
    ],
)
def test_openai_tool_choice(fake: FakeLLM, choice: ToolChoice, wire: Any) -> None:
    sent_body = body(fake, "openai", ModelOptions(tool_choice=choice, parallel_tool_calls=False), tools=TOOLS)
    assert (sent_body["tool_choice"], sent_body["parallel_tool_calls"]) == (wire, False)


def test_openai_tool_options_need_tools(fake: FakeLLM) -> None:
    sent_body = body(fake, "openai", ModelOptions(ToolChoice("required"), parallel_tool_calls=True))
    assert "tool_choice" not in sent_body and "parallel_tool_calls" not in sent_body


def test_openai_output_reasoning_and_end_user(fake: FakeLLM) -> None:
    schema = JsonSchemaFormat("city", CITY, strict=True, description="A city")
    options = ModelOptions(
        output_format=schema,
        reasoning=Reasoning("high", "auto"),
        user="user-1",
        prompt_cache_key="bucket",
        top_p=0.4,
    )
    sent_body = body(fake, "openai", options)
    assert sent_body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "city", "schema": CITY, "strict": True, "description": "A city"},
    }
    assert (sent_body["reasoning_effort"], sent_body["safety_identifier"]) == ("high", "user-1")
    assert (sent_body["prompt_cache_key"], sent_body["top_p"]) == ("bucket", 0.4)
    json_mode = body(fake, "openai", ModelOptions(output_format=JsonObjectFormat()))
    assert json_mode["response_format"] == {"type": "json_object"}


@pytest.mark.parametrize(
    ("options", "wire"),
    [
        (ModelOptions(ToolChoice("none")), {"type": "none"}),
        (ModelOptions(ToolChoice("required")), {"type": "any"}),
        (
            ModelOptions(ToolChoice("required"), parallel_tool_calls=False),
            {"type": "any", "disable_parallel_tool_use": True},
        ),
        (ModelOptions(ToolChoice(name="get_time")), {"type": "tool", "name": "get_time"}),
        (ModelOptions(parallel_tool_calls=False), {"type": "auto", "disable_parallel_tool_use": True}),
    ],
)
def test_anthropic_tool_choice(fake: FakeLLM, options: ModelOptions, wire: dict[str, Any]) -> None:
    assert body(fake, "anthropic", options, tools=TOOLS)["tool_choice"] == wire


def test_anthropic_allowed_tools_are_the_only_tools_sent(fake: FakeLLM) -> None:
    sent_body = body(fake, "anthropic", ModelOptions(ToolChoice(allowed=("get_time",))), tools=TOOLS)
    assert [tool["name"] for tool in sent_body["tools"]] == ["get_time"]
    assert "tool_choice" not in sent_body


def test_anthropic_output_thinking_and_end_user(fake: FakeLLM) -> None:
    options = ModelOptions(
        output_format=JsonSchemaFormat("city", CITY),
        reasoning=Reasoning("high"),
        user="user-1",
        prompt_cache_key="bucket",
        top_p=0.9,
    )
    sent_body = body(fake, "anthropic", options, max_tokens=1000, temperature=0.5)
    assert sent_body["output_config"] == {"format": {"type": "json_schema", "schema": CITY}}
    assert sent_body["thinking"] == {"type": "enabled", "budget_tokens": 16384}
    assert sent_body["max_tokens"] > 16384 and "temperature" not in sent_body
    assert (sent_body["metadata"], sent_body["top_p"]) == ({"user_id": "user-1"}, 0.9)
    assert "prompt_cache_key" not in sent_body
    low = body(fake, "anthropic", ModelOptions(reasoning=Reasoning("low")))
    assert low["thinking"]["budget_tokens"] == 1024
    off = body(fake, "anthropic", ModelOptions(reasoning=Reasoning("none")), thinking_budget_tokens=2048)
    assert "thinking" not in off


@pytest.mark.parametrize(
    ("options", "wire"),
    [
        (ModelOptions(ToolChoice("none")), {"mode": "NONE"}),
        (ModelOptions(ToolChoice("required")), {"mode": "ANY"}),
        (ModelOptions(ToolChoice(name="get_time")), {"mode": "ANY", "allowedFunctionNames": ["get_time"]}),
        (
            ModelOptions(ToolChoice("required", allowed=("get_time",))),
            {"mode": "ANY", "allowedFunctionNames": ["get_time"]},
        ),
    ],
)
def test_google_tool_choice(fake: FakeLLM, options: ModelOptions, wire: dict[str, Any]) -> None:
    assert body(fake, "google", options, tools=TOOLS)["toolConfig"] == {"functionCallingConfig": wire}


def test_google_allowed_tools_without_a_required_call_send_only_those(fake: FakeLLM) -> None:
    sent_body = body(fake, "google", ModelOptions(ToolChoice(allowed=("get_time",))), tools=TOOLS)
    assert [d["name"] for d in sent_body["tools"][0]["functionDeclarations"]] == ["get_time"]
    assert sent_body["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}


def test_google_output_thinking_and_sampling(fake: FakeLLM) -> None:
    options = ModelOptions(
        output_format=JsonSchemaFormat("city", CITY),
        reasoning=Reasoning("medium", "auto"),
        user="user-1",
        prompt_cache_key="bucket",
        top_p=0.3,
    )
    sent_body = body(fake, "google", options)
    assert sent_body["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseJsonSchema": CITY,
        "thinkingConfig": {"thinkingBudget": 8192, "includeThoughts": True},
        "topP": 0.3,
    }
    assert "user-1" not in str(sent_body) and "bucket" not in str(sent_body)
    json_mode = body(
        fake, "google", ModelOptions(output_format=JsonObjectFormat(), reasoning=Reasoning("none"))
    )
    assert json_mode["generationConfig"] == {
        "responseMimeType": "application/json",
        "thinkingConfig": {"thinkingBudget": 0},
    }


@pytest.mark.parametrize(
    ("provider", "options", "field"),
    [
        ("anthropic", ModelOptions(output_format=JsonObjectFormat()), "text.format"),
        ("anthropic", ModelOptions(ToolChoice("required"), reasoning=Reasoning("low")), "tool_choice"),
        ("google", ModelOptions(parallel_tool_calls=False), "parallel_tool_calls"),
    ],
)
def test_what_a_provider_cannot_do_is_refused_before_any_call(
    fake: FakeLLM, provider: str, options: ModelOptions, field: str
) -> None:
    with pytest.raises(Unsupported) as refused:
        sent(request_for(fake, provider, options=options, tools=TOOLS), fake)
    assert refused.value.field == field and provider in refused.value.message
    assert fake.requests == []


def test_a_refusal_is_neither_retried_nor_sent_to_a_fallback_model(fake: FakeLLM) -> None:
    request = request_for(fake, "google", options=ModelOptions(parallel_tool_calls=False), tools=TOOLS)

    async def run() -> None:
        provider = adapter("google")
        try:
            await ModelCaller(RetryPolicy(base_delay_seconds=0)).complete(
                provider, request, ["gemini-2.5-pro"]
            )
        finally:
            await provider.aclose()

    with pytest.raises(Unsupported):
        asyncio.run(run())
    assert fake.requests == []
