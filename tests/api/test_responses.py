"""`POST /chat/responses` through the official `openai` package (sync and async) and the Vapi SDK."""

from __future__ import annotations

import asyncio

import httpx
import openai
import pytest
from vapi import Vapi

from chatloom.testing.fake_llm import FakeLLM, FakeReply
from tests.support.client import Api, client_for

UNKNOWN = "00000000-0000-0000-0000-000000000000"


def test_non_streaming_response_is_strictly_valid(api: Api, fake_llm: FakeLLM) -> None:
    assistant = api.create_assistant()
    fake_llm.push(FakeReply(text="Hello world!", usage={"prompt_tokens": 36, "completion_tokens": 4}))
    client = client_for(api, _strict_response_validation=True)
    response = client.responses.create(
        model="gpt-4.1",
        input="hi",
        stream=False,
        instructions="Be brief.",
        metadata={"ticket": "42"},
        extra_body={"assistantId": assistant["id"]},
    )
    assert response.output_text == "Hello world!"
    assert response.status == "completed" and response.object == "response"
    assert response.usage is not None and response.usage.input_tokens == 36
    assert response.usage.output_tokens == 4 and response.usage.total_tokens == 40
    assert response.model == "gpt-4o-mini" and response.metadata == {"ticket": "42"}
    sent = fake_llm.requests[-1].json["messages"]
    assert sent[-2:] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    stored = api.get(f"/chat/{response.id}").json()
    assert stored["output"][0]["content"] == "Hello world!" and stored["input"] == "hi"


def test_streaming_by_iteration_and_missing_stream_means_stream(api: Api, fake_llm: FakeLLM) -> None:
    assistant = api.create_assistant()
    fake_llm.push(FakeReply(text="one two three", chunks=["one ", "two ", "three"]))
    client = client_for(api)
    events = list(
        client.responses.create(
            model="m", input="count", stream=True, extra_body={"assistantId": assistant["id"]}
        )
    )
    types = [e.type for e in events]
    assert types == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "one two three"
    completed = events[-1].response  # type: ignore[union-attr]
    assert completed.output_text == "one two three" and completed.id == events[0].response.id  # type: ignore[union-attr]

    raw = httpx.post(
        f"{api.base_url}/chat/responses",
        json={"input": "no stream key", "assistantId": assistant["id"]},
        headers={"Authorization": f"Bearer {api.key}"},
    )
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert "event: response.completed" in raw.text and "[DONE]" not in raw.text


def test_stream_helper_and_chaining(api: Api, fake_llm: FakeLLM) -> None:
    assistant = api.create_assistant()
    client = client_for(api)
    with client.responses.stream(
        model="m", input="first", extra_body={"assistantId": assistant["id"]}
    ) as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text == "You said: first"

    second = client.responses.create(
        model="m", input="second", stream=False, extra_body={"previousChatId": final.id}
    )
    third = client.responses.create(
        model="m", input=[{"role": "user", "content": "third"}], stream=False, previous_response_id=second.id
    )
    assert third.previous_response_id == second.id
    contents = [m["content"] for m in fake_llm.requests[-1].json["messages"]]
    assert contents == ["first", "You said: first", "second", "You said: second", "third"]
    assert api.get(f"/chat/{third.id}").json()["previousChatId"] == second.id


def test_sessions_and_input_items(api: Api, fake_llm: FakeLLM) -> None:
    assistant = api.create_assistant()
    session = api.post("/session", {"assistantId": assistant["id"]}).json()
    client = client_for(api)
    client.responses.create(
        model="m", input="in session", stream=False, extra_body={"sessionId": session["id"]}
    )
    with client.responses.stream(
        model="m",
        input=[
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "items"}]},
        ],
        extra_body={"sessionId": session["id"]},
    ) as stream:
        assert stream.get_final_response().output_text == "You said: items"
    messages = api.get(f"/session/{session['id']}").json()["messages"]
    assert [m["content"] for m in messages] == [
        "in session",
        "You said: in session",
        "items",
        "You said: items",
    ]


def test_async_client(api: Api) -> None:
    async def scenario() -> None:
        assistant = api.create_assistant()
        client = openai.AsyncOpenAI(base_url=f"{api.base_url}/chat", api_key=api.key, max_retries=0)
        response = await client.responses.create(
            model="m", input="async", stream=False, extra_body={"assistantId": assistant["id"]}
        )
        assert response.output_text == "You said: async"
        async with client.responses.stream(
            model="m", input="async stream", extra_body={"previousChatId": response.id}
        ) as stream:
            final = await stream.get_final_response()
        assert final.output_text == "You said: async stream"
        await client.close()

    asyncio.run(scenario())


def test_error_classes(api: Api, fake_llm: FakeLLM) -> None:
    assistant = api.create_assistant()
    client = client_for(api)
    with pytest.raises(openai.BadRequestError) as bad:
        client.responses.create(
            model="m", input="", stream=False, extra_body={"assistantId": assistant["id"]}
        )
    assert bad.value.param == "input" and "input" in bad.value.message
    with pytest.raises(openai.BadRequestError):
        client.responses.create(
            model="m",
            input=[{"type": "input_image", "image_url": "x"}],
            extra_body={"assistantId": assistant["id"]},
        )
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{api.base_url}/chat", api_key="wrong", max_retries=0).responses.create(
            model="m", input="x", extra_body={"assistantId": assistant["id"]}
        )
    with pytest.raises(openai.BadRequestError) as missing:  # as OpenAI answers an unknown one
        client.responses.create(model="m", input="x", previous_response_id=UNKNOWN)
    assert UNKNOWN in missing.value.message and missing.value.param == "previous_response_id"
    fake_llm.push(FakeReply(status=429, headers={"Retry-After": "70"}))  # longer than the retry budget
    with pytest.raises(openai.RateLimitError) as limited:
        client.responses.create(
            model="m", input="x", stream=False, extra_body={"assistantId": assistant["id"]}
        )
    assert limited.value.response.headers["retry-after"] == "70"
    fake_llm.push(*[FakeReply(status=500)] * 3)
    with pytest.raises(openai.InternalServerError) as failed:
        client.responses.create(
            model="m", input="x", stream=False, extra_body={"assistantId": assistant["id"]}
        )
    assert failed.value.status_code == 502
    body = failed.value.response.json()
    assert body["statusCode"] == 502 and body["message"] and body["error"]["type"] == "server_error"


def test_failure_mid_stream_ends_with_response_failed(api: Api, fake_llm: FakeLLM) -> None:
    assistant = api.create_assistant()
    fake_llm.push(FakeReply(text="a b c d", chunks=["a ", "b ", "c ", "d"], cut_after_chunks=2))
    client = client_for(api)
    events = list(
        client.responses.create(
            model="m", input="x", stream=True, extra_body={"assistantId": assistant["id"]}
        )
    )
    assert [e.type for e in events[-2:]] == ["error", "response.failed"]
    assert events[-1].response.status == "failed" and events[-1].response.error is not None  # type: ignore[union-attr]
    fake_llm.push(*[FakeReply(status=503)] * 3)
    with client.responses.stream(model="m", input="x", extra_body={"assistantId": assistant["id"]}) as stream:
        seen = [event.type for event in stream]
        with pytest.raises(RuntimeError, match=r"response\.completed"):
            stream.get_final_response()
    assert seen[-2:] == ["error", "response.failed"]


def test_vapi_sdk_create_response(api: Api) -> None:
    assistant = api.create_assistant()
    client = Vapi(token=api.key, base_url=api.base_url)
    response = client.chats.create_response(input="via vapi", assistant_id=assistant["id"], stream=False)
    assert response.output[0].content[0].text == "You said: via vapi"  # type: ignore[union-attr]


def test_tool_calls_are_function_call_items(api: Api, fake_llm: FakeLLM) -> None:
    weather = {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
    assistant = api.create_assistant(
        model={
            "provider": "openai",
            "model": "gpt-4o-mini",
            "tools": [{"type": "function", "function": weather}],
        }
    )
    call = {
        "id": "call_9",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
    }
    client = client_for(api, _strict_response_validation=True)

    fake_llm.push(FakeReply(text="Checking.", tool_calls=[call]))
    response = client.responses.create(
        model="m", input="Weather?", stream=False, extra_body={"assistantId": assistant["id"]}
    )
    assert [item.type for item in response.output] == ["message", "function_call"]
    function_call = response.output[1]
    assert function_call.type == "function_call"
    assert (function_call.call_id, function_call.name, function_call.arguments) == (
        "call_9",
        "get_weather",
        '{"city":"Oslo"}',
    )

    fake_llm.push(FakeReply(text="Checking.", tool_calls=[call]))
    with client.responses.stream(
        model="m", input="Weather?", extra_body={"assistantId": assistant["id"]}
    ) as stream:
        types = [event.type for event in stream]
        final = stream.get_final_response()
    assert types[-6:] == [
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [item.type for item in final.output] == ["message", "function_call"]
    assert final.output_text == "Checking."

    fake_llm.push(FakeReply(text="It is 7 degrees."))
    answered = client.responses.create(
        model="m",
        input=[{"type": "function_call_output", "call_id": "call_9", "output": "7 degrees"}],
        previous_response_id=final.id,
        stream=False,
    )
    assert answered.output_text == "It is 7 degrees."
    assert {"role": "tool", "tool_call_id": "call_9", "content": "7 degrees"} in fake_llm.requests[-1].json[
        "messages"
    ]
