"""Resumable streams in one process: `/chat` frames resumed with `Last-Event-ID`, Responses events with
`starting_after` (the OpenAI SDK's `retrieve(stream=True)`), background turns, cancel, delete, input items,
heartbeats and what a reconnect gets once a turn's events have expired."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from chatloom.config import Settings
from chatloom.testing.fake_llm import FakeLLM, FakeReply
from tests.conftest import provider_environment
from tests.support.client import Api, client_for
from tests.support.server import ServerThread
from tests.support.sse import SseEvent, sse_events

WORDS = [f"w{i} " for i in range(12)]


def slow_reply(delay: float = 0.05, words: list[str] = WORDS) -> FakeReply:
    return FakeReply(text="".join(words), chunks=list(words), chunk_delay_seconds=delay)


def wait_for(condition: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def first_events(api: Api, body: dict[str, Any], count: int) -> list[SseEvent]:
    """Starts a streamed `/chat` turn, reads `count` events, then drops the connection."""
    seen: list[SseEvent] = []
    with api.http.stream("POST", "/chat", json={**body, "stream": True}) as response:
        assert response.status_code == 200
        for event in sse_events(response.iter_lines()):
            seen.append(event)
            if len(seen) == count:
                break
    return seen


def resume(api: Api, chat_id: str, last_event_id: str | None) -> tuple[int, list[SseEvent]]:
    headers = {"Last-Event-ID": last_event_id} if last_event_id is not None else {}
    with api.http.stream("GET", f"/chat/{chat_id}/stream", headers=headers) as response:
        if response.status_code != 200 or not response.headers["content-type"].startswith("text/event"):
            response.read()
            return response.status_code, []
        return 200, list(sse_events(response.iter_lines()))


def test_chat_stream_resumes_after_last_event_id(api: Api, fake_llm: FakeLLM) -> None:
    assistant = api.create_assistant()
    fake_llm.push(slow_reply())
    seen = first_events(api, {"assistantId": assistant["id"], "input": "hi"}, 3)
    assert [event.id for event in seen] == ["0", "1", "2"]
    chat_id = seen[0].json()["id"]

    status, rest = resume(api, chat_id, seen[-1].id)
    assert status == 200
    assert [event.id for event in rest] == [str(n) for n in range(3, len(WORDS) + 1)], "each once, in order"
    assert rest[-1].data == "[DONE]"
    text = "".join(event.json()["delta"] for event in [*seen, *rest[:-1]])
    assert text == api.get(f"/chat/{chat_id}").json()["output"][0]["content"] == "".join(WORDS)

    assert resume(api, chat_id, rest[-1].id) == (204, []), "nothing left: EventSource stops reconnecting"
    _, replay = resume(api, chat_id, None)
    assert len(replay) == len(WORDS) + 1, "no Last-Event-ID: the whole stream"


def test_responses_stream_resumes_with_starting_after(api: Api, fake_llm: FakeLLM) -> None:
    assistant = api.create_assistant()
    fake_llm.push(slow_reply())
    client = client_for(api)
    stream = client.responses.create(
        model="m", input="hi", stream=True, extra_body={"assistantId": assistant["id"]}
    )
    seen = []
    for event in stream:
        seen.append(event)
        if len(seen) == 6:
            break
    stream.close()
    response_id = seen[0].response.id
    assert client.responses.retrieve(response_id).status == "in_progress"

    rest = list(client.responses.retrieve(response_id, stream=True, starting_after=seen[-1].sequence_number))
    numbers = [event.sequence_number for event in [*seen, *rest]]
    assert numbers == list(range(len(numbers))), "every event once, in order"
    assert rest[-1].type == "response.completed"
    deltas = "".join(event.delta for event in [*seen, *rest] if event.type == "response.output_text.delta")
    stored = api.get(f"/chat/{response_id}").json()
    assert deltas == stored["output"][0]["content"] == rest[-1].response.output_text

    final = client.responses.retrieve(response_id)
    assert final.status == "completed" and final.output_text == deltas
    items = client.responses.input_items.list(response_id)
    assert [item.content[0].text for item in items.data] == ["hi"]  # type: ignore[union-attr]


def test_background_response_runs_to_completion(api: Api, fake_llm: FakeLLM) -> None:
    assistant = api.create_assistant()
    fake_llm.push(slow_reply(0.02))
    client = client_for(api)
    started = client.responses.create(
        model="m", input="hi", background=True, stream=False, extra_body={"assistantId": assistant["id"]}
    )
    assert started.background is True and started.status in ("queued", "in_progress")
    wait_for(lambda: client.responses.retrieve(started.id).status == "completed")
    done = client.responses.retrieve(started.id)
    assert done.output_text == "".join(WORDS) and done.background is True
    replay = list(client.responses.retrieve(started.id, stream=True))
    assert replay[0].type == "response.created" and replay[-1].type == "response.completed"

    deleted = client.responses.delete(started.id)
    assert deleted is None or getattr(deleted, "deleted", True)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(started.id)
    assert api.get(f"/chat/{started.id}").status_code == 404


def test_cancel_stops_a_background_turn_and_stores_nothing(api: Api, fake_llm: FakeLLM) -> None:
    assistant = api.create_assistant()
    fake_llm.push(slow_reply(0.2, [f"w{i} " for i in range(40)]))
    client = client_for(api)
    started = client.responses.create(
        model="m", input="hi", background=True, stream=False, extra_body={"assistantId": assistant["id"]}
    )
    wait_for(lambda: len(fake_llm.requests) == 1)
    time.sleep(0.3)
    cancelled = client.responses.cancel(started.id)
    assert cancelled.status == "cancelled"
    wait_for(lambda: fake_llm.aborted_streams == 1)
    assert client.responses.retrieve(started.id).status == "cancelled"
    assert api.get(f"/chat/{started.id}").status_code == 404, "nothing half-stored"
    events = list(client.responses.retrieve(started.id, stream=True))
    assert events[-1].type == "response.cancelled"


def test_background_chat_is_followed_from_its_first_frame(api: Api, fake_llm: FakeLLM) -> None:
    assistant = api.create_assistant()
    fake_llm.push(slow_reply(0.02))
    accepted = api.post("/chat", {"assistantId": assistant["id"], "input": "hi", "background": True})
    assert accepted.status_code == 202, accepted.text
    chat_id = accepted.json()["id"]
    status, events = resume(api, chat_id, None)
    assert status == 200 and events[-1].data == "[DONE]"
    assert "".join(event.json()["delta"] for event in events[:-1]) == "".join(WORDS)
    wait_for(lambda: api.get(f"/chat/{chat_id}").status_code == 200)


def test_unknown_and_foreign_ids_are_404(api: Api, other_api: Api, fake_llm: FakeLLM) -> None:
    assistant = api.create_assistant()
    fake_llm.push(slow_reply(0.01))
    chat_id = first_events(api, {"assistantId": assistant["id"], "input": "hi"}, 1)[0].json()["id"]
    for client in (api, other_api):
        unknown = "00000000-0000-7000-8000-000000000000"
        target = unknown if client is api else chat_id
        assert client.get(f"/chat/{target}/stream").status_code == 404
        assert client.get(f"/chat/responses/{target}").status_code == 404
        assert client.get(f"/chat/responses/{target}", params={"stream": "true"}).status_code == 404
        assert client.post(f"/chat/responses/{target}/cancel").status_code == 404
        assert client.delete(f"/chat/responses/{target}").status_code == 404
        assert client.get(f"/chat/responses/{target}/input_items").status_code == 404
    # "²" is a digit to str.isdigit() (sent as Latin-1, as HTTP headers are read), "٣" to int().
    for last_event_id in (b"x", b"\xb2", b"9" * 5000, b"-1", b"2147483648"):
        bad = api.get(f"/chat/{chat_id}/stream", headers={"Last-Event-ID": last_event_id})
        assert bad.status_code == 400 and "Last-Event-ID" in bad.json()["message"], last_event_id[:10]
    for starting_after in ("soon", "\u0663", "9" * 5000, "1.5"):
        bad = api.get(f"/chat/responses/{chat_id}", params={"starting_after": starting_after})
        assert bad.status_code == 400 and "starting_after" in bad.json()["error"]["message"]


@pytest.fixture(scope="module")
def quick_server(backend: str, fake_llm: FakeLLM) -> Iterator[ServerThread]:
    """A server whose streams send heartbeats every 0.2 s and keep no events after a turn ends."""
    settings = Settings(
        database_url=backend,
        provider_env=provider_environment(fake_llm),
        llm_timeout_seconds=5,
        stream_heartbeat_seconds=0.2,
        stream_retention_seconds=0,
    )
    thread = ServerThread(settings).start()
    yield thread
    thread.stop()


@pytest.fixture
def quick_api(quick_server: ServerThread) -> Iterator[Api]:
    client = Api(quick_server.url, quick_server.create_key(f"quick-{time.monotonic_ns()}"))
    yield client
    client.close()


def test_heartbeats_while_the_model_is_silent(quick_api: Api, fake_llm: FakeLLM) -> None:
    assistant = quick_api.create_assistant()
    fake_llm.push(FakeReply(text="late", delay_seconds=0.9))
    with quick_api.http.stream(
        "POST", "/chat", json={"assistantId": assistant["id"], "input": "hi", "stream": True}
    ) as response:
        lines = list(response.iter_lines())
    beats = [line for line in lines if line == ": keep-alive"]
    assert len(beats) >= 2, lines
    events = [event for event in sse_events(lines) if event.data]
    assert [event.id for event in events] == ["0", "1"] and events[-1].data == "[DONE]"
    assert events[0].json()["delta"] == "late"


def test_a_reconnect_after_expiry_gets_the_stored_result(quick_api: Api, fake_llm: FakeLLM) -> None:
    assistant = quick_api.create_assistant()
    chat = quick_api.chat(assistantId=assistant["id"], input="hi")
    status = httpx.get(
        f"{quick_api.base_url}/chat/{chat['id']}/stream",
        headers={"Authorization": f"Bearer {quick_api.key}", "Last-Event-ID": "3"},
    )
    assert status.status_code == 200 and status.json()["id"] == chat["id"]
    client = client_for(quick_api)
    events = list(client.responses.retrieve(chat["id"], stream=True, starting_after=4))
    assert [event.type for event in events] == ["response.completed"]
    assert events[0].response.output_text == "You said: hi"
    fake_llm.push(slow_reply(0.01))
    stream = client.responses.create(
        model="m", input="again", stream=True, extra_body={"assistantId": assistant["id"]}
    )
    response_id = next(iter(stream)).response.id
    stream.close()
    wait_for(lambda: quick_api.get(f"/chat/{response_id}").status_code == 200)
    time.sleep(0.1)
    final = client.responses.retrieve(response_id)
    assert final.status == "completed" and final.output_text == "".join(WORDS)


def test_a_non_streamed_response_is_retrieved_listed_and_deleted(api: Api) -> None:
    assistant = api.create_assistant()
    client = client_for(api)
    first = client.responses.create(
        model="m", input="one", stream=False, extra_body={"assistantId": assistant["id"]}
    )
    second = client.responses.create(
        model="m",
        input=[{"role": "user", "content": "two"}, {"role": "user", "content": "three"}],
        stream=False,
        previous_response_id=first.id,
    )
    fetched = client.responses.retrieve(second.id)
    assert fetched.status == "completed" and fetched.output_text == second.output_text
    assert fetched.previous_response_id == first.id
    newest_first = client.responses.input_items.list(second.id)
    assert [item.content[0].text for item in newest_first.data] == ["three", "two"]  # type: ignore[union-attr]
    oldest_first = client.responses.input_items.list(second.id, order="asc", limit=1)
    assert [item.content[0].text for item in oldest_first.data] == ["two"]  # type: ignore[union-attr]
    assert oldest_first.has_more is True
    client.responses.delete(second.id)
    assert api.get(f"/chat/{second.id}").status_code == 404
    assert api.delete(f"/chat/responses/{second.id}").status_code == 404
