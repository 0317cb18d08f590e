"""SQLite shared with another process: a write that must wait for the other process's lock waits on the
driver's thread (the server keeps answering meanwhile), then lands whole; a statement that fails after
others of its transaction were held back rolls all of them back."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chatloom.config import Settings
from chatloom.testing.fake_llm import FakeLLM
from tests.conftest import TEST_SECRET_KEY, provider_environment
from tests.support.client import Api
from tests.support.server import ServerThread

ASSISTANT = {"model": {"provider": "openai", "model": "gpt-4o-mini"}}


@pytest.fixture(scope="module")
def sqlite_server(
    tmp_path_factory: pytest.TempPathFactory, fake_llm: FakeLLM
) -> Iterator[tuple[ServerThread, Path]]:
    path = Path(tmp_path_factory.mktemp("locks")) / "chatloom.db"
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{path}",
        provider_env=provider_environment(fake_llm),
        llm_timeout_seconds=10,
        secret_key=TEST_SECRET_KEY,
    )
    server = ServerThread(settings).start()
    yield server, path
    server.stop()


def test_a_write_waiting_for_another_process_does_not_stall_the_server(
    sqlite_server: tuple[ServerThread, Path],
) -> None:
    server, path = sqlite_server
    api = Api(server.url, server.create_key(f"locks-{uuid.uuid4().hex[:8]}"))
    session = api.post("/session", {"assistant": ASSISTANT}).json()
    other = sqlite3.connect(path, isolation_level=None, timeout=10)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    results: dict[str, httpx.Response] = {}

    def turn(name: str, body: dict[str, object]) -> None:
        results[name] = api.post("/chat", body)

    threads = [
        threading.Thread(target=turn, args=("chat", {"assistant": ASSISTANT, "input": "hello"})),
        threading.Thread(target=turn, args=("session", {"sessionId": session["id"], "input": "hi"})),
    ]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)  # both turns now wait for the lock
        assert not results
        started = time.perf_counter()
        health = httpx.get(f"{server.url}/health", timeout=5)
        assert health.status_code == 200
        assert time.perf_counter() - started < 0.5
        listed = api.get("/session", params={"limit": 1})  # readers are never blocked (WAL)
        assert listed.status_code == 200
    finally:
        other.execute("COMMIT")
        other.close()
    for thread in threads:
        thread.join(timeout=20)
    assert results["chat"].status_code == 200, results["chat"].text
    assert results["session"].status_code == 200, results["session"].text
    chat_id = results["chat"].json()["id"]
    assert api.get(f"/chat/{chat_id}").json()["output"] == results["chat"].json()["output"]
    stored = api.get(f"/session/{session['id']}").json()
    assert stored["messages"][0]["content"] == "hi"
    assert len(stored["messages"]) == 2


def test_a_chat_whose_held_back_statements_fail_leaves_nothing(
    sqlite_server: tuple[ServerThread, Path],
) -> None:
    """The chat's INSERT is held for the COMMIT's trip; when it fails there (here: a trigger standing for a
    full disk), the turn answers an error and neither its chat nor anything else of it is stored."""
    server, path = sqlite_server
    api = Api(server.url, server.create_key(f"locks-{uuid.uuid4().hex[:8]}"))
    other = sqlite3.connect(path, isolation_level=None, timeout=10)
    other.execute(
        "CREATE TRIGGER refuse_named BEFORE INSERT ON chats WHEN NEW.name = 'refused' "
        "BEGIN SELECT RAISE(ABORT, 'refused by test'); END"
    )
    try:
        refused = api.post("/chat", {"assistant": ASSISTANT, "input": "hello", "name": "refused"})
        assert refused.status_code == 500
        assert other.execute("SELECT count(*) FROM chats WHERE name = 'refused'").fetchone() == (0,)
        kept = api.post("/chat", {"assistant": ASSISTANT, "input": "hello", "name": "kept"})
        assert kept.status_code == 200  # the connection is usable again at once
        assert api.get(f"/chat/{kept.json()['id']}").json()["name"] == "kept"
    finally:
        other.execute("DROP TRIGGER refuse_named")
        other.close()
