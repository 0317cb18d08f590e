"""Streamed chats: Vapi `{id, path, delta}` frames, `[DONE]`, stored on completion or disconnect."""

from __future__ import annotations

import time

import httpx

from chatloom.testing.fake_llm import FakeLLM, FakeReply
from tests.support.client import Api


def test_deltas_concatenate_to_the_stored_output(api: Api, fake_llm: FakeLLM) -> None:
    assistant = api.create_assistant()
    fake_llm.push(FakeReply(text="Hello there, friend.", chunks=["Hel", "lo there", ", friend."]))
    frames = list(api.stream({"assistantId": assistant["id"], "input": "hi"}))
    assert frames[-1] == "[DONE]"
    deltas = frames[:-1]
    assert [f["delta"] for f in deltas] == ["Hel", "lo there", ", friend."]
    assert {f["path"] for f in deltas} == {"chat.output[0].content"}
    chat_id = deltas[0]["id"]
    assert all(f["id"] == chat_id for f in deltas) and "sessionId" not in deltas[0]
    stored = api.get(f"/chat/{chat_id}").json()
    assert stored["output"][0]["content"] == "".join(f["delta"] for f in deltas)
    assert stored["costs"][0]["promptTokens"] > 0, "usage is recorded when streaming too"
    assert fake_llm.requests[-1].json["stream"] is True

    follow = api.chat(previousChatId=chat_id, input="and then?")
    assert follow["messages"][1] == {"role": "assistant", "content": "Hello there, friend."}


def test_failure_mid_stream_sends_an_error_frame_and_stores_nothing(api: Api, fake_llm: FakeLLM) -> None:
    assistant = api.create_assistant()
    fake_llm.push(
        FakeReply(text="one two three four", chunks=["one ", "two ", "three ", "four"], cut_after_chunks=2)
    )
    frames = list(api.stream({"assistantId": assistant["id"], "input": "hi"}))
    assert frames[-1] == "[DONE]"
    error = frames[-2]
    assert error["error"]["message"] and error["error"]["type"] == "upstream_error"
    assert [f["delta"] for f in frames[:-2]] == ["one ", "two "]
    assert api.get(f"/chat/{error['id']}").status_code == 404
    assert api.get("/chat").json()["metadata"]["totalItems"] == 0


def test_upstream_error_before_the_first_token_is_an_error_frame(api: Api, fake_llm: FakeLLM) -> None:
    assistant = api.create_assistant()
    fake_llm.push(*[FakeReply(status=503)] * 3)
    frames = list(api.stream({"assistantId": assistant["id"], "input": "hi"}))
    assert frames[-1] == "[DONE]" and frames[0]["error"]["statusCode"] == 502


def test_validation_errors_are_plain_json_even_when_streaming(api: Api) -> None:
    response = api.post("/chat", {"input": "", "stream": True, "assistantId": "x"})
    assert response.status_code == 400 and response.json()["statusCode"] == 400


def test_client_disconnect_midway_still_stores_the_chat(api: Api, fake_llm: FakeLLM) -> None:
    assistant = api.create_assistant()
    chunks = [f"w{i} " for i in range(10)]
    fake_llm.push(FakeReply(text="".join(chunks), chunks=chunks, chunk_delay_seconds=0.05))
    body = {"assistantId": assistant["id"], "input": "hi", "stream": True}
    with (
        httpx.Client(base_url=api.base_url, headers={"Authorization": f"Bearer {api.key}"}) as client,
        client.stream("POST", "/chat", json=body) as response,
    ):
        first = next(line for line in response.iter_lines() if line.startswith("data: "))
    chat_id = httpx.Response(200, content=first[len("data: ") :]).json()["id"]
    deadline = time.monotonic() + 5
    while (response := api.get(f"/chat/{chat_id}")).status_code == 404 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert response.status_code == 200, "the turn ran to completion after the client left"
    assert response.json()["output"][0]["content"] == "".join(chunks)
