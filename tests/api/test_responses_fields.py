"""Every field of OpenAI's `ResponseCreateParams` is honoured (a test shows its effect) or refused with a
400 naming it. The list comes from the installed `openai` package, so a field a new SDK adds fails here
until it is decided."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import openai
import pytest
from openai.types.responses import response_create_params

from chatloom.testing.fake_llm import FakeLLM
from tests.support.client import Api, client_for

HERE = Path(__file__).parent

HONOURED: dict[str, str] = {
    "background": "test_resumable_streams.py::test_background_response_runs_to_completion",
    "conversation": "test_conversations.py::test_conversation_parameter_over_three_turns",
    "include": "test_responses_fields.py::test_include_values",
    "input": "test_responses.py::test_stream_helper_and_chaining",
    "instructions": "test_responses_direct.py::test_no_assistant_model_and_instructions",
    "max_output_tokens": "test_responses_fields.py::test_sampling_and_end_user_fields_reach_the_model",
    "metadata": "test_responses_direct.py::test_metadata_is_kept_with_the_stored_response",
    "model": "test_responses_direct.py::test_no_assistant_model_and_instructions",
    "parallel_tool_calls": "test_responses_tools.py::test_tool_choice_and_parallel_calls_reach_the_model",
    "previous_response_id": "test_responses.py::test_stream_helper_and_chaining",
    "prompt_cache_key": "test_responses_fields.py::test_sampling_and_end_user_fields_reach_the_model",
    "reasoning": "test_responses_fields.py::test_reasoning_effort_and_summary_items",
    "safety_identifier": "test_responses_fields.py::test_sampling_and_end_user_fields_reach_the_model",
    "service_tier": "test_responses_fields.py::test_service_tier_default_only",
    "store": "test_responses_direct.py::test_store_false_keeps_nothing",
    "stream": "test_responses_direct.py::test_stream_negotiated_by_accept",
    "stream_options": "test_responses_fields.py::test_stream_options_without_obfuscation",
    "temperature": "test_responses_fields.py::test_sampling_and_end_user_fields_reach_the_model",
    "text": "test_responses_direct.py::test_structured_output_json_schema",
    "tool_choice": "test_responses_tools.py::test_tool_choice_and_parallel_calls_reach_the_model",
    "tools": "test_responses_tools.py::test_caller_tool_round_trip",
    "top_p": "test_responses_fields.py::test_sampling_and_end_user_fields_reach_the_model",
    "truncation": "test_context_window.py::test_responses_truncation_auto_and_disabled",
    "user": "test_responses_fields.py::test_sampling_and_end_user_fields_reach_the_model",
}
"""Field → the test that shows its effect."""

REFUSED: dict[str, Any] = {
    "access_programs": ["programmatic"],
    "background_options": {"mode": "x"},
    "context_management": [{"type": "compaction"}],
    "image": {"size": "1024x1024"},
    "max_tool_calls": 3,
    "moderation": {"mode": "strict"},
    "prompt": {"id": "pmpt_1"},
    "prompt_cache_options": {"ttl": "12h"},
    "prompt_cache_retention": "24h",
    "top_logprobs": 3,
}
"""Field → a value chatloom cannot honour: each is a 400 naming the field."""


def sdk_fields() -> set[str]:
    return set(typing.get_type_hints(response_create_params.ResponseCreateParamsStreaming))


def test_every_sdk_field_is_decided() -> None:
    undecided = sdk_fields() - HONOURED.keys() - REFUSED.keys()
    assert not undecided, f"fields of ResponseCreateParams neither honoured nor refused: {undecided}"


@pytest.mark.parametrize("field", sorted(HONOURED))
def test_each_honoured_field_names_a_test_that_exists(field: str) -> None:
    module, _, name = HONOURED[field].partition("::")
    assert f"def {name}(" in (HERE / module).read_text(), HONOURED[field]


@pytest.mark.parametrize("field", sorted(REFUSED))
def test_each_refused_field_is_a_400_naming_it(api: Api, field: str) -> None:
    response = api.post(
        "/chat/responses",
        {"model": "openai/gpt-4o-mini", "input": "hi", "stream": False, field: REFUSED[field]},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == field


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"tools": [{"type": "web_search"}]}, "tools"),
        ({"tools": [{"type": "function", "name": "bad name"}]}, "tools[0].name"),
        ({"tools": [{"type": "function", "name": "f", "parameters": {"type": 5}}]}, "tools[0].parameters"),
        ({"tool_choice": {"type": "file_search"}}, "tool_choice"),
        ({"text": {"format": {"type": "json_schema", "name": "x"}}}, "text.format"),
        ({"text": {"verbosity": "low"}}, "text.verbosity"),
        ({"reasoning": {"effort": "huge"}}, "reasoning.effort"),
        ({"reasoning": {"mode": "pro"}}, "reasoning.mode"),
        ({"include": ["message.output_text.logprobs"]}, "include"),
        ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
        ({"service_tier": "flex"}, "service_tier"),
        ({"store": False, "background": True}, "store"),
        ({"unknown_field": 1}, "unknown_field"),
    ],
)
def test_malformed_options_are_400s_naming_the_field(api: Api, body: dict[str, Any], param: str) -> None:
    response = api.post(
        "/chat/responses", {"model": "openai/gpt-4o-mini", "input": "hi", "stream": False, **body}
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param, response.json()


def test_sampling_and_end_user_fields_reach_the_model(api: Api, fake_llm: FakeLLM) -> None:
    response = client_for(api).responses.create(
        model="openai/gpt-4o-mini",
        input="hi",
        temperature=0.3,
        top_p=0.5,
        max_output_tokens=77,
        safety_identifier="user-123",
        prompt_cache_key="bucket-1",
    )
    sent = fake_llm.requests[-1].json
    assert (sent["temperature"], sent["top_p"], sent["max_completion_tokens"]) == (0.3, 0.5, 77)
    assert (sent["safety_identifier"], sent["prompt_cache_key"]) == ("user-123", "bucket-1")
    assert (response.top_p, response.safety_identifier, response.prompt_cache_key) == (
        0.5,
        "user-123",
        "bucket-1",
    )
    client_for(api).responses.create(model="openai/gpt-4o-mini", input="hi", user="legacy-user")
    assert fake_llm.requests[-1].json["safety_identifier"] == "legacy-user"


def test_include_values(api: Api) -> None:
    client = client_for(api)
    response = client.responses.create(
        model="openai/gpt-4o-mini", input="hi", include=["reasoning.encrypted_content"]
    )
    assert response.output_text == "You said: hi"
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(
            model="openai/gpt-4o-mini", input="hi", include=["message.output_text.logprobs"]
        )
    assert refused.value.param == "include"


def test_service_tier_default_only(api: Api) -> None:
    client = client_for(api)
    assert client.responses.create(model="openai/gpt-4o-mini", input="hi", service_tier="auto").service_tier
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model="openai/gpt-4o-mini", input="hi", service_tier="priority")
    assert refused.value.param == "service_tier"


def test_stream_options_without_obfuscation(api: Api) -> None:
    events = list(
        client_for(api).responses.create(
            model="openai/gpt-4o-mini",
            input="hi",
            stream=True,
            stream_options={"include_obfuscation": False},
        )
    )
    deltas = [event for event in events if event.type == "response.output_text.delta"]
    assert deltas and all(getattr(event, "obfuscation", None) is None for event in deltas)


def test_reasoning_effort_and_summary_items(api: Api, fake_llm: FakeLLM) -> None:
    from chatloom.testing.fake_llm import FakeReply

    fake_llm.push(FakeReply(text="42", reasoning=["Adding six and seven times."]))
    response = client_for(api).responses.create(
        model="openai/gpt-4o-mini",
        input="What is 6 x 7?",
        reasoning={"effort": "low", "summary": "auto"},
    )
    assert fake_llm.requests[-1].json["reasoning_effort"] == "low"
    assert [item.type for item in response.output] == ["reasoning", "message"]
    reasoning = response.output[0]
    assert reasoning.type == "reasoning"
    assert [part.text for part in reasoning.summary] == ["Adding six and seven times."]
    assert response.reasoning is not None and response.reasoning.effort == "low"

    # A client that keeps its own history (the Agents SDK) sends the output back as input, reasoning
    # items included: they are accepted, and not sent to the model.
    replayed = [item.model_dump(exclude_none=True) for item in response.output]
    again = client_for(api).responses.create(
        model="openai/gpt-4o-mini",
        input=[
            {"role": "user", "content": "What is 6 x 7?"},
            *replayed,
            {"role": "user", "content": "Sure?"},
        ],
    )
    assert again.output_text == "You said: Sure?"
    assert [m["role"] for m in fake_llm.requests[-1].json["messages"]] == ["user", "assistant", "user"]


def test_assistant_reasoning_effort_and_prompt_cache_key(api: Api, fake_llm: FakeLLM) -> None:
    model = {"provider": "openai", "model": "gpt-4o-mini", "reasoningEffort": "high", "promptCacheKey": "faq"}
    assistant = api.create_assistant(model=model)
    api.chat(assistantId=assistant["id"], input="hi")
    sent = fake_llm.requests[-1].json
    assert (sent["reasoning_effort"], sent["prompt_cache_key"]) == ("high", "faq")

    client_for(api).responses.create(
        model="m",
        input="hi",
        reasoning={"effort": "low"},
        prompt_cache_key="mine",
        extra_body={"assistantId": assistant["id"]},
    )
    sent = fake_llm.requests[-1].json
    assert (sent["reasoning_effort"], sent["prompt_cache_key"]) == ("low", "mine")

    bad = api.post("/assistant", {"model": {**model, "reasoningEffort": "huge"}})
    assert bad.status_code == 400 and "reasoningEffort" in bad.text
