"""A turn keeps its session's lease for as long as it runs (it renews it), however short the lease; a turn
whose lease was taken over by another chat fails with 409 and stores nothing."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from chatloom.config import Settings
from chatloom.store.db import Database, create_engine
from chatloom.store.tables import sessions
from chatloom.testing.fake_llm import FakeLLM, FakeReply
from tests.conftest import provider_environment
from tests.support.client import Api
from tests.support.server import ServerThread

LEASE_SECONDS = 2.0  # renewed every 0.67 s: a test process stalled for as long must not lose it


@pytest.fixture(scope="module")
def short_lease_server(backend: str, fake_llm: FakeLLM) -> Iterator[ServerThread]:
    settings = Settings(
        database_url=backend,
        provider_env=provider_environment(fake_llm),
        llm_timeout_seconds=10,
        llm_retry_base_seconds=0.01,
        session_lease_seconds=LEASE_SECONDS,
    )
    thread = ServerThread(settings).start()
    yield thread
    thread.stop()


@pytest.fixture
def lease_api(short_lease_server: ServerThread) -> Iterator[Api]:
    client = Api(short_lease_server.url, short_lease_server.create_key(f"lease-{uuid.uuid4().hex[:10]}"))
    yield client
    client.close()


def new_session(api: Api) -> str:
    assistant = api.create_assistant()
    response = api.post("/session", {"assistantId": assistant["id"]})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def in_background(call: Callable[[], Any]) -> Future[Any]:
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(call)
    pool.shutdown(wait=False)
    return future


def wait_for_model_requests(fake: FakeLLM, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(fake.requests) < count:
        assert time.monotonic() < deadline, f"the model got {len(fake.requests)} requests, not {count}"
        time.sleep(0.01)


def user_texts(request_json: dict[str, Any]) -> list[str]:
    return [str(m["content"]) for m in request_json["messages"] if m["role"] in ("user", "assistant")]


def test_a_turn_longer_than_the_lease_keeps_its_session(lease_api: Api, fake_llm: FakeLLM) -> None:
    session_id = new_session(lease_api)
    fake_llm.push(FakeReply(text="first answer", delay_seconds=1.5 * LEASE_SECONDS))
    first = in_background(lambda: lease_api.post("/chat", {"sessionId": session_id, "input": "first"}))
    wait_for_model_requests(fake_llm, 1)
    started = time.monotonic()
    second = lease_api.post("/chat", {"sessionId": session_id, "input": "second"})
    assert second.status_code == 200, second.text
    assert time.monotonic() - started > LEASE_SECONDS, "the second chat waited past the first lease"
    assert first.result(timeout=10).status_code == 200, first.result().text

    assert second.json()["messages"] == [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "second"},
    ]
    assert user_texts(fake_llm.requests[1].json) == ["first", "first answer", "second"]
    stored = lease_api.get(f"/session/{session_id}").json()
    assert [m["content"] for m in stored["messages"]] == [
        "first",
        "first answer",
        "second",
        "You said: second",
    ]
    chats = lease_api.get("/chat", params={"sessionId": session_id}).json()
    assert chats["metadata"]["totalItems"] == 2


def test_a_streamed_turn_keeps_its_session_after_the_client_leaves(lease_api: Api, fake_llm: FakeLLM) -> None:
    session_id = new_session(lease_api)
    slow = FakeReply(
        chunks=["one ", "two ", "three"], chunk_delay_seconds=0.25 * LEASE_SECONDS
    )  # ~1.5 leases
    fake_llm.push(slow)
    with lease_api.http.stream(
        "POST", "/chat", json={"sessionId": session_id, "input": "a", "stream": True}
    ) as r:
        assert r.status_code == 200
        next(line for line in r.iter_lines() if line.startswith("data: "))
    # The client is gone; the turn runs on, renewing its lease, and is stored.
    second = lease_api.post("/chat", {"sessionId": session_id, "input": "b"})
    assert second.status_code == 200, second.text
    assert [m["content"] for m in second.json()["messages"]] == ["a", "one two three", "b"]
    stored = lease_api.get(f"/session/{session_id}").json()
    assert [m["content"] for m in stored["messages"]] == ["a", "one two three", "b", "You said: b"]


def take_over_lease(database_url: str, session_id: str) -> None:
    """Stands in for another process that took the session after this turn's lease lapsed (for example
    while this process was cut off from the database), and whose own lease has lapsed too."""

    async def run() -> None:
        db = Database(create_engine(database_url, pool_size=1))
        try:
            async with db.write() as conn:
                past = datetime.now(UTC) - timedelta(seconds=1)
                await conn.execute(
                    update(sessions)
                    .where(sessions.c.id == session_id)
                    .values(lease_owner=str(uuid.uuid4()), lease_until=past)
                )
        finally:
            await db.dispose()

    asyncio.run(run())


def test_a_turn_whose_lease_was_taken_over_fails_and_stores_nothing(
    lease_api: Api, fake_llm: FakeLLM, short_lease_server: ServerThread
) -> None:
    session_id = new_session(lease_api)
    fake_llm.push(FakeReply(text="too late", delay_seconds=1.5))
    first = in_background(lambda: lease_api.post("/chat", {"sessionId": session_id, "input": "first"}))
    wait_for_model_requests(fake_llm, 1)
    take_over_lease(short_lease_server.settings.database_url, session_id)
    second = lease_api.post("/chat", {"sessionId": session_id, "input": "second"})
    assert second.status_code == 200, second.text
    assert [m["content"] for m in second.json()["messages"]] == ["second"]

    refused = first.result(timeout=10)
    assert refused.status_code == 409, refused.text
    assert "taken over by another chat" in refused.json()["message"]
    assert "not stored" in refused.json()["message"]
    stored = lease_api.get(f"/session/{session_id}").json()
    assert [m["content"] for m in stored["messages"]] == ["second", "You said: second"]
    chats = lease_api.get("/chat", params={"sessionId": session_id}).json()
    assert [c["input"] for c in chats["results"]] == ["second"]
    third = lease_api.post("/chat", {"sessionId": session_id, "input": "third"})
    assert third.status_code == 200, "the session is free again"


def test_a_long_turn_that_fails_frees_its_session_at_once(lease_api: Api, fake_llm: FakeLLM) -> None:
    session_id = new_session(lease_api)
    fake_llm.push(FakeReply(status=400, delay_seconds=1.2 * LEASE_SECONDS))
    failed = lease_api.post("/chat", {"sessionId": session_id, "input": "doomed"})
    assert failed.status_code == 400 and "scripted to fail" in failed.text, failed.text
    started = time.monotonic()
    second = lease_api.post("/chat", {"sessionId": session_id, "input": "next"})
    assert second.status_code == 200 and time.monotonic() - started < LEASE_SECONDS / 2
    stored = lease_api.get(f"/session/{session_id}").json()
    assert [m["content"] for m in stored["messages"]] == ["next", "You said: next"]
