"""Caller-defined function tools on `/chat/responses`: offered beside the assistant's, a call to one ends
the turn with `function_call` items, and `function_call_output` items continue it; `tool_choice` and
`parallel_tool_calls` reach each provider in its own terms or are refused naming the provider."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from chatloom.testing.fake_llm import FakeLLM, FakeReply
from tests.support.client import Api, client_for

WEATHER: dict[str, Any] = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}
CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
}


def test_caller_tool_round_trip(api: Api, fake_llm: FakeLLM) -> None:
    client = client_for(api)
    fake_llm.push(FakeReply(tool_calls=[CALL]))
    first = client.responses.create(model="gpt-4o-mini", input="Weather in Oslo?", tools=[WEATHER])  # type: ignore[list-item]
    offered = fake_llm.requests[-1].json["tools"]
    assert offered == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather for a city",
                "parameters": WEATHER["parameters"],
                "strict": True,
            },
        }
    ]
    assert [item.type for item in first.output] == ["function_call"]
    call = first.output[0]
    assert call.type == "function_call"
    assert (call.call_id, call.name, call.arguments, call.status) == (
        "call_1",
        "get_weather",
        '{"city":"Oslo"}',
        "completed",
    )
    assert first.output_text == "" and first.status == "completed"
    assert first.tools[0].type == "function" and first.tools[0].name == "get_weather"

    answered = client.responses.create(
        model="gpt-4o-mini",
        input=[{"type": "function_call_output", "call_id": "call_1", "output": "7C, rain"}],
        previous_response_id=first.id,
        tools=[WEATHER],  # type: ignore[list-item]
    )
    assert answered.output_text == "Tool said: 7C, rain"
    messages = fake_llm.requests[-1].json["messages"]
    assert messages[-2]["tool_calls"][0]["id"] == "call_1"
    assert messages[-1] == {"role": "tool", "tool_call_id": "call_1", "content": "7C, rain"}

    # Stateless: the whole history, the call echoed back as an input item.
    stateless = client.responses.create(
        model="gpt-4o-mini",
        input=[
            {"role": "user", "content": "Weather in Oslo?"},
            call.model_dump(exclude_none=True),
            {"type": "function_call_output", "call_id": "call_1", "output": "7C, rain"},
        ],
        tools=[WEATHER],  # type: ignore[list-item]
    )
    assert stateless.output_text == "Tool said: 7C, rain"


def test_caller_tool_call_streamed(api: Api, fake_llm: FakeLLM) -> None:
    fake_llm.push(FakeReply(tool_calls=[CALL]))
    with client_for(api).responses.stream(
        model="gpt-4o-mini",
        input="Weather in Oslo?",
        tools=[WEATHER],  # type: ignore[list-item]
    ) as stream:
        types = [event.type for event in stream]
        final = stream.get_final_response()
    assert types[-5:] == [
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [item.type for item in final.output] == ["function_call"]


def test_a_caller_tool_named_like_an_assistant_tool_is_a_400(api: Api) -> None:
    assistant = api.create_assistant(
        model={
            "provider": "openai",
            "model": "gpt-4o-mini",
            "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}],
        }
    )
    with pytest.raises(openai.BadRequestError) as clash:
        client_for(api).responses.create(
            model="gpt-4o-mini",
            input="hi",
            tools=[WEATHER],  # type: ignore[list-item]
            extra_body={"assistantId": assistant["id"]},
        )
    assert clash.value.param == "tools[0].name" and "get_weather" in clash.value.message


def test_tool_choice_and_parallel_calls_reach_the_model(api: Api, fake_llm: FakeLLM) -> None:
    client = client_for(api)
    client.responses.create(
        model="gpt-4o-mini",
        input="Weather?",
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice="required",
        parallel_tool_calls=False,
    )
    sent = fake_llm.requests[-1].json
    assert (sent["tool_choice"], sent["parallel_tool_calls"]) == ("required", False)
    named = client.responses.create(
        model="gpt-4o-mini",
        input="Weather?",
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice={"type": "function", "name": "get_weather"},
    )
    assert fake_llm.requests[-1].json["tool_choice"] == {
        "type": "function",
        "function": {"name": "get_weather"},
    }
    assert named.tool_choice.type == "function"  # type: ignore[union-attr]
    # The fake, forced to call, calls the tool with arguments valid for its schema.
    assert [item.type for item in named.output] == ["function_call"]

    client.responses.create(
        model="anthropic/claude-sonnet-4-5",
        input="Weather?",
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice="required",
        parallel_tool_calls=False,
    )
    assert fake_llm.requests[-1].json["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}

    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(
            model="google/gemini-2.5-flash",
            input="Weather?",
            tools=[WEATHER],  # type: ignore[list-item]
            parallel_tool_calls=False,
        )
    assert refused.value.param == "parallel_tool_calls" and "google" in refused.value.message
