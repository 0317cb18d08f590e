"""End to end: a streamed turn resumed through a second `chatloom serve` process on the same PostgreSQL
database (relayed by LISTEN/NOTIFY, or by Redis), and in the one process SQLite runs; a background turn
cancelled from the other process."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import httpx
import openai
import pytest

from chatloom.testing.fake_llm import FakeLLM, FakeReply
from tests.support.serve import ServeProcess, cli
from tests.support.sse import sse_events

REDIS = ("127.0.0.1", 6379)
WORDS = [f"w{i} " for i in range(15)]


def redis_available() -> bool:
    try:
        with socket.create_connection(REDIS, timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(params=["database", "redis"])
def relay(request: pytest.FixtureRequest, backend: str) -> str:
    if request.param == "redis":
        if backend.startswith("sqlite"):
            pytest.skip("SQLite runs one process: nothing to relay through Redis")
        if not redis_available():
            pytest.skip("Redis is not running on 127.0.0.1:6379")
    return str(request.param)


@pytest.fixture
def environment(backend: str, fake_llm: FakeLLM, relay: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env.pop("CHATLOOM_REDIS_URL", None)
    env.update(
        CHATLOOM_DATABASE_URL=backend,
        CHATLOOM_AUTH_CACHE_SECONDS="0",
        OPENAI_API_KEY="sk-e2e",
        OPENAI_BASE_URL=fake_llm.base_url,
    )
    if relay == "redis":
        env["CHATLOOM_REDIS_URL"] = f"redis://{REDIS[0]}:{REDIS[1]}/0"
    return env


@contextmanager
def two_servers(backend: str, environment: dict[str, str]) -> Iterator[tuple[str, str]]:
    """Two processes on the shared database; SQLite runs one, which then plays both parts."""
    with ExitStack() as stack:
        first = stack.enter_context(ServeProcess(environment)).url
        second = first if backend.startswith("sqlite") else stack.enter_context(ServeProcess(environment)).url
        yield first, second


def wait_for(condition: Any, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def status_of(client: openai.OpenAI, response_id: str) -> str | None:
    """A response's status, None while the process asked does not see it yet (its first write pending)."""
    try:
        return client.responses.retrieve(response_id).status
    except openai.NotFoundError:
        return None


def test_resume_through_another_process(backend: str, environment: dict[str, str], fake_llm: FakeLLM) -> None:
    key = cli(environment, "keys", "create", "--org", f"e2e-resume-{time.monotonic_ns()}").split()[-1]
    headers = {"Authorization": f"Bearer {key}"}
    with two_servers(backend, environment) as (first, second):
        assistant = httpx.post(
            f"{first}/assistant",
            json={"model": {"provider": "openai", "model": "gpt-4o-mini"}},
            headers=headers,
        ).json()

        # The OpenAI SDK: start on the first process, drop, resume on the second.
        fake_llm.push(FakeReply(text="".join(WORDS), chunks=list(WORDS), chunk_delay_seconds=0.05))
        starter = openai.OpenAI(base_url=f"{first}/chat", api_key=key, max_retries=0)
        resumer = openai.OpenAI(base_url=f"{second}/chat", api_key=key, max_retries=0)
        stream = starter.responses.create(
            model="m", input="hi", stream=True, extra_body={"assistantId": assistant["id"]}
        )
        seen = []
        for event in stream:
            seen.append(event)
            if len(seen) == 6:
                break
        stream.close()
        response_id = seen[0].response.id
        time.sleep(0.2)  # a few more events pass while no one listens
        rest = list(
            resumer.responses.retrieve(response_id, stream=True, starting_after=seen[-1].sequence_number)
        )
        numbers = [event.sequence_number for event in [*seen, *rest]]
        assert numbers == list(range(len(numbers))), "every event once, in order"
        assert rest[-1].type == "response.completed"
        text = "".join(e.delta for e in [*seen, *rest] if e.type == "response.output_text.delta")
        stored = httpx.get(f"{second}/chat/{response_id}", headers=headers).json()
        assert text == stored["output"][0]["content"] == "".join(WORDS)
        assert resumer.responses.retrieve(response_id).status == "completed"

        # EventSource-style: `/chat` frames resumed with Last-Event-ID on the second process.
        fake_llm.push(FakeReply(text="".join(WORDS), chunks=list(WORDS), chunk_delay_seconds=0.05))
        body = {"assistantId": assistant["id"], "input": "again", "stream": True}
        early = []
        with httpx.stream("POST", f"{first}/chat", json=body, headers=headers, timeout=30) as response:
            for sse in sse_events(response.iter_lines()):
                early.append(sse)
                if len(early) == 4:
                    break
        chat_id = early[0].json()["id"]
        time.sleep(0.2)  # a few more frames pass while no one listens
        resumed = {**headers, "Last-Event-ID": early[-1].id or ""}
        with httpx.stream("GET", f"{second}/chat/{chat_id}/stream", headers=resumed, timeout=30) as response:
            assert response.status_code == 200
            late = [sse for sse in sse_events(response.iter_lines()) if sse.data]
        ids = [int(sse.id or -1) for sse in [*early, *late]]
        assert ids == list(range(len(ids))) and late[-1].data == "[DONE]"
        deltas = "".join(sse.json()["delta"] for sse in [*early, *late[:-1]])
        assert deltas == httpx.get(f"{second}/chat/{chat_id}", headers=headers).json()["output"][0]["content"]

        # A turn that ended before anyone asked elsewhere: its owner writes it out when asked.
        fake_llm.push(FakeReply(text="".join(WORDS), chunks=list(WORDS)))
        with httpx.stream("POST", f"{first}/chat", json=body, headers=headers, timeout=30) as response:
            whole = [sse for sse in sse_events(response.iter_lines()) if sse.data]
        finished_id = whole[0].json()["id"]
        resumed = {**headers, "Last-Event-ID": "1"}
        with httpx.stream("GET", f"{second}/chat/{finished_id}/stream", headers=resumed) as response:
            tail = [sse for sse in sse_events(response.iter_lines()) if sse.data]
        assert [sse.data for sse in tail] == [sse.data for sse in whole[2:]]

        # A background turn on the first process, cancelled through the second.
        fake_llm.reset()
        fake_llm.push(FakeReply(text="x " * 60, chunks=["x "] * 60, chunk_delay_seconds=0.1))
        started = starter.responses.create(
            model="m",
            input="long",
            background=True,
            stream=False,
            extra_body={"assistantId": assistant["id"]},
        )
        wait_for(lambda: status_of(resumer, started.id) == "in_progress")
        cancelled = resumer.responses.cancel(started.id)
        assert cancelled.status == "cancelled"
        wait_for(lambda: fake_llm.aborted_streams == 1)
        assert starter.responses.retrieve(started.id).status == "cancelled"
        assert httpx.get(f"{first}/chat/{started.id}", headers=headers).status_code == 404
