"""End to end: `kill -9` of a `chatloom serve` process under load loses no acknowledged chat, and a session
whose turn was in flight when the process died accepts chats again within the session lease."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from chatloom.engine.access.keys import KeyVerifier
from chatloom.store.db import Database, create_engine, migrate
from chatloom.testing.fake_llm import FakeLLM, FakeReply
from tests.support.databases import postgresql_url
from tests.support.serve import ServeProcesses

pytestmark = pytest.mark.e2e

LEASE_SECONDS = 3.0
SESSION_WORKERS = 4
PLAIN_WORKERS = 3
STREAM_WORKERS = 1


@pytest.fixture
def database(backend: str, tmp_path: Path) -> Iterator[str]:
    """A database of the test's own, so nothing else has it open when the server dies."""
    if backend.startswith("sqlite"):
        yield f"sqlite+aiosqlite:///{tmp_path / 'crash.db'}"
        return
    with postgresql_url() as url:
        yield url


@pytest.fixture
def environment(database: str, fake_llm: FakeLLM) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env.update(
        CHATLOOM_DATABASE_URL=database,
        CHATLOOM_AUTH_CACHE_SECONDS="0",
        CHATLOOM_SESSION_LEASE_SECONDS=str(LEASE_SECONDS),
        CHATLOOM_LOG_LEVEL="warning",
        OPENAI_API_KEY="sk-e2e",
        OPENAI_BASE_URL=fake_llm.base_url,
    )
    return env


@dataclass
class Load:
    """Chats fired until the server dies: which were acknowledged, and any answer that was not a 200."""

    url: str
    headers: dict[str, str]
    assistant: str
    acknowledged: list[tuple[str, str, str | None]] = field(default_factory=list)  # chat id, input, session
    refused: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def chats(self, worker: str, session_id: str | None) -> None:
        """Sequential chats, on `session_id` if given, until a request fails (the server died)."""
        with httpx.Client(base_url=self.url, headers=self.headers, timeout=30) as client:
            for number in range(10_000):
                text = f"{worker}-{number}"
                body: dict[str, Any] = {"input": text}
                body.update({"sessionId": session_id} if session_id else {"assistantId": self.assistant})
                try:
                    response = client.post("/chat", json=body)
                except httpx.HTTPError:
                    return
                if response.status_code != 200:
                    self._refused(f"{text}: {response.status_code} {response.text}")
                    return
                self._acknowledge(response.json()["id"], text, session_id)

    def streamed_chats(self, worker: str) -> None:
        """Streamed chats; one counts as acknowledged when its stream ended with [DONE] and no error."""
        with httpx.Client(base_url=self.url, headers=self.headers, timeout=30) as client:
            for number in range(10_000):
                text = f"{worker}-{number}"
                frames: list[Any] = []
                try:
                    body = {"assistantId": self.assistant, "input": text, "stream": True}
                    with client.stream("POST", "/chat", json=body) as response:
                        for line in response.iter_lines():
                            if line.startswith("data: "):
                                data = line[len("data: ") :]
                                frames.append(data if data == "[DONE]" else orjson.loads(data))
                except httpx.HTTPError:
                    return
                if frames[-1:] != ["[DONE]"] or any("error" in frame for frame in frames[:-1]):
                    self._refused(f"{text}: {frames}")
                    return
                self._acknowledge(frames[0]["id"], text, None)

    def _acknowledge(self, chat_id: str, text: str, session_id: str | None) -> None:
        with self.lock:
            self.acknowledged.append((chat_id, text, session_id))

    def _refused(self, what: str) -> None:
        with self.lock:
            self.refused.append(what)


def create_key(database_url: str) -> str:
    """Migrates the database and makes an API key for a new org (what `chatloom keys create` does)."""
    migrate(database_url)

    async def create() -> str:
        db = Database(create_engine(database_url, pool_size=1))
        try:
            return (await KeyVerifier(db).create(f"crash-{time.monotonic_ns()}"))[1]
        finally:
            await db.dispose()

    return asyncio.run(create())


def wait_for_model_requests(fake: FakeLLM, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(fake.requests) < count:
        assert time.monotonic() < deadline, "the in-flight turn never reached the model"
        time.sleep(0.01)


def test_kill_9_under_load_loses_no_acknowledged_chat(
    environment: dict[str, str], fake_llm: FakeLLM, servers: ServeProcesses
) -> None:
    began = time.monotonic()
    key = create_key(environment["CHATLOOM_DATABASE_URL"])
    headers = {"Authorization": f"Bearer {key}"}
    fake_llm.default_delay_seconds = 0.05
    pool = ThreadPoolExecutor(max_workers=1 + SESSION_WORKERS + PLAIN_WORKERS + STREAM_WORKERS)
    # A second process on the same database, up before the kill: it shows when the dead process's
    # session frees up, measured from the kill rather than from a new process's start-up. (The
    # database is migrated already, so the two start side by side.)
    victim = servers.start(environment, wait=False)
    standby = servers.start(environment, wait=False)
    url = victim.wait_until_healthy()
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        model = {"provider": "openai", "model": "gpt-4o-mini"}
        assistant = client.post("/assistant", json={"model": model}).json()["id"]
        session_ids = [
            client.post("/session", json={"assistantId": assistant}).json()["id"]
            for _ in range(SESSION_WORKERS + 1)
        ]
    stuck_session, session_ids = session_ids[0], session_ids[1:]
    standby_url = standby.wait_until_healthy()
    # A turn still waiting for the model when the process dies, holding its session's lease.
    fake_llm.push(FakeReply(text="never stored", delay_seconds=3 * LEASE_SECONDS))
    in_flight = pool.submit(
        httpx.post,
        f"{url}/chat",
        json={"sessionId": stuck_session, "input": "in flight"},
        headers=headers,
        timeout=30,
    )
    wait_for_model_requests(fake_llm, 1)
    load = Load(url, headers, assistant)
    workers = [pool.submit(load.chats, f"s{i}", s) for i, s in enumerate(session_ids)]
    workers += [pool.submit(load.chats, f"p{i}", None) for i in range(PLAIN_WORKERS)]
    workers += [pool.submit(load.streamed_chats, f"t{i}") for i in range(STREAM_WORKERS)]
    # Past the end of the lease the in-flight turn took: the process holds it by renewing it.
    time.sleep(LEASE_SECONDS + 0.5)
    victim.kill()
    killed = time.monotonic()
    restarted = servers.start(environment, wait=False)

    after = httpx.post(
        f"{standby_url}/chat",
        json={"sessionId": stuck_session, "input": "after the crash"},
        headers=headers,
        timeout=LEASE_SECONDS + 10,
    )
    freed = time.monotonic() - killed
    assert after.status_code == 200, after.text
    assert [m["content"] for m in after.json()["messages"]] == ["after the crash"]
    assert freed < LEASE_SECONDS + 1.5, f"the dead process's session stayed busy {freed:.1f}s"
    # Renewed past its first term, the lease outlived the process (by up to a lease), then ended.
    assert freed > LEASE_SECONDS / 3, f"the session was free {freed:.1f}s after the kill"

    for worker in workers:
        worker.result(timeout=10)
    with pytest.raises(httpx.RemoteProtocolError):  # the connection dropped with no answer
        in_flight.result(timeout=10)
    pool.shutdown()
    assert load.refused == [], load.refused
    assert len(load.acknowledged) >= 20, f"only {len(load.acknowledged)} chats before the kill"

    url = restarted.wait_until_healthy()
    back = time.monotonic() - killed
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        for chat_id, text, _ in load.acknowledged:
            chat = client.get(f"/chat/{chat_id}")
            assert chat.status_code == 200, f"acknowledged chat {chat_id} ({text}) was lost"
            assert chat.json()["output"][-1]["content"] == f"You said: {text}"
        for session_id in session_ids:
            stored = client.get(f"/session/{session_id}").json()["messages"]
            assert_consistent(stored, [t for _, t, s in load.acknowledged if s == session_id])
        again = client.post("/chat", json={"sessionId": stuck_session, "input": "and again"})
        assert again.status_code == 200, again.text
    print(  # shown with -s
        f"{len(load.acknowledged)} acknowledged chats; session free {freed:.2f}s after the kill; "
        f"restarted process up after {back:.2f}s; test took {time.monotonic() - began:.1f}s"
    )


def assert_consistent(messages: list[dict[str, Any]], acknowledged: list[str]) -> None:
    """Whole turns only (each input answered right after it), every acknowledged one, in order. A turn
    that committed just before the kill, with its answer lost on the way, may be there as well."""
    inputs = [m["content"] for m in messages[0::2]]
    for question, answer in zip(messages[0::2], messages[1::2], strict=True):
        assert question["role"] == "user" and answer["role"] == "assistant"
        assert answer["content"] == f"You said: {question['content']}"
    assert inputs[: len(acknowledged)] == acknowledged, (inputs, acknowledged)
    assert len(inputs) <= len(acknowledged) + 1, (inputs, acknowledged)
