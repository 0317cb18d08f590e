"""Conversations stored once: chains and forks share messages, PATCH and DELETE leave other records as
they were, long sessions read back and continue, and deleted conversations leave no text behind."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select
from sqlalchemy.ext.asyncio import create_async_engine

from chatloom.store.tables import log_messages
from chatloom.testing.fake_llm import FakeLLM, FakeReply
from tests.support.client import Api
from tests.support.server import ServerThread


def _assistant(api: Api) -> str:
    return str(api.create_assistant(model={"provider": "openai", "model": "gpt-4o-mini"})["id"])


def _contents(messages: list[dict[str, Any]]) -> list[Any]:
    return [message["content"] for message in messages]


def _rows_containing(server: ServerThread, text: str) -> int:
    async def count() -> int:
        engine = create_async_engine(server.settings.database_url)
        try:
            async with engine.connect() as conn:
                statement = select(func.count()).where(log_messages.c.body.contains(text))
                return int((await conn.execute(statement)).scalar_one())
        finally:
            await engine.dispose()

    return asyncio.run(count())


def test_forks_of_a_chain_do_not_see_each_other(api: Api, fake_llm: FakeLLM) -> None:
    assistant_id = _assistant(api)
    fake_llm.push(FakeReply(text="a1"), FakeReply(text="b1"), FakeReply(text="c1"), FakeReply(text="d1"))
    a = api.chat(assistantId=assistant_id, input="a")
    b = api.chat(previousChatId=a["id"], input="b")
    c = api.chat(previousChatId=a["id"], input="c")  # a fork: a is no longer at the tip
    d = api.chat(previousChatId=b["id"], input="d")
    assert _contents(fake_llm.requests[-2].json["messages"]) == ["a", "a1", "c"]
    assert _contents(fake_llm.requests[-1].json["messages"]) == ["a", "a1", "b", "b1", "d"]
    for chat, messages, output in (
        (a, ["a"], ["a1"]),
        (b, ["a", "a1", "b"], ["b1"]),
        (c, ["a", "a1", "c"], ["c1"]),
        (d, ["a", "a1", "b", "b1", "d"], ["d1"]),
    ):
        stored = api.get(f"/chat/{chat['id']}").json()
        assert stored == chat
        assert _contents(stored["messages"]) == messages and _contents(stored["output"]) == output

    fake_llm.push(FakeReply(text="e1"), FakeReply(text="f1"))
    e = api.chat(previousChatId=c["id"], input="e")  # c's fork is at its tip: appended in place
    f = api.chat(previousChatId=c["id"], input="f")  # a fork of a fork
    assert _contents(e["messages"]) == ["a", "a1", "c", "c1", "e"]
    assert _contents(f["messages"]) == ["a", "a1", "c", "c1", "f"]
    listed = api.get("/chat", params={"limit": 100}).json()["results"]
    assert {chat["id"]: chat for chat in listed} == {chat["id"]: chat for chat in (a, b, c, d, e, f)}


def test_a_chain_from_a_session_chat_forks_away_from_the_session(api: Api, fake_llm: FakeLLM) -> None:
    session = api.post("/session", {"assistantId": _assistant(api)}).json()
    fake_llm.push(FakeReply(text="s1"), FakeReply(text="x1"), FakeReply(text="s2"))
    first = api.chat(sessionId=session["id"], input="s")
    branch = api.chat(previousChatId=first["id"], input="x")
    second = api.chat(sessionId=session["id"], input="t")
    assert _contents(branch["messages"]) == ["s", "s1", "x"]
    assert _contents(second["messages"]) == ["s", "s1", "t"]
    stored = api.get(f"/session/{session['id']}").json()
    assert _contents(stored["messages"]) == ["s", "s1", "t", "s2"]
    assert api.get(f"/chat/{branch['id']}").json() == branch


def test_patching_messages_leaves_earlier_chats_as_they_were(api: Api, fake_llm: FakeLLM) -> None:
    session = api.post(
        "/session", {"assistantId": _assistant(api), "messages": [{"role": "user", "content": "h"}]}
    )
    session_id = session.json()["id"]
    fake_llm.push(FakeReply(text="one"), FakeReply(text="two"))
    before = api.chat(sessionId=session_id, input="q1")
    patched = api.patch(f"/session/{session_id}", {"messages": [{"role": "user", "content": "fresh"}]})
    assert patched.status_code == 200 and _contents(patched.json()["messages"]) == ["fresh"]
    after = api.chat(sessionId=session_id, input="q2")
    assert _contents(after["messages"]) == ["fresh", "q2"]
    assert api.get(f"/chat/{before['id']}").json() == before
    assert _contents(api.get(f"/session/{session_id}").json()["messages"]) == ["fresh", "q2", "two"]
    assert api.patch(f"/session/{session_id}", {"messages": []}).json()["messages"] == []
    assert api.get(f"/session/{session_id}").json()["messages"] == []
    assert api.get(f"/chat/{after['id']}").json() == after


def test_deleting_leaves_no_text_nothing_references(
    api: Api, server: ServerThread, fake_llm: FakeLLM
) -> None:
    assistant_id = _assistant(api)
    secret = uuid.uuid4().hex
    fake_llm.push(FakeReply(text="r1"), FakeReply(text="r2"), FakeReply(text="r3"))
    a = api.chat(assistantId=assistant_id, input=f"{secret} a")
    b = api.chat(previousChatId=a["id"], input=f"{secret} b")
    c = api.chat(previousChatId=a["id"], input=f"{secret} c")
    assert api.delete(f"/chat/{b['id']}").json() == b
    assert _rows_containing(server, f"{secret} b") == 0  # only b read it
    assert api.get(f"/chat/{c['id']}").json() == c and api.get(f"/chat/{a['id']}").json() == a
    assert api.delete(f"/chat/{a['id']}").status_code == 200
    assert _rows_containing(server, f"{secret} a") == 1  # c still reads it
    assert api.get(f"/chat/{c['id']}").json() == c
    assert api.delete(f"/chat/{c['id']}").status_code == 200
    assert _rows_containing(server, secret) == 0

    session = api.post(
        "/session", {"assistantId": assistant_id, "messages": [{"role": "user", "content": secret}]}
    )
    session_id = session.json()["id"]
    api.patch(f"/session/{session_id}", {"messages": [{"role": "user", "content": "other"}]})
    assert _rows_containing(server, secret) == 0  # replaced messages nothing read
    fake_llm.push(FakeReply(text=f"{secret} answer"))
    turn = api.chat(sessionId=session_id, input="q")
    deleted = api.delete(f"/session/{session_id}").json()
    assert _contents(deleted["messages"]) == ["other", "q", f"{secret} answer"]
    assert _rows_containing(server, secret) == 1 and api.get(f"/chat/{turn['id']}").json() == turn
    api.delete(f"/chat/{turn['id']}")
    assert _rows_containing(server, secret) == 0


def test_a_5000_message_session_reads_back_and_continues(api: Api, fake_llm: FakeLLM) -> None:
    history = [
        {"role": "user" if index % 2 == 0 else "assistant", "content": f"message {index} ✓"}
        for index in range(5000)
    ]
    created = api.post("/session", {"assistantId": _assistant(api), "messages": history})
    assert created.status_code == 201, created.text
    session_id = created.json()["id"]
    stored = api.get(f"/session/{session_id}").json()
    assert stored == created.json() and stored["messages"] == history
    fake_llm.push(FakeReply(text="still here"))
    turn = api.chat(sessionId=session_id, input="and now?")
    assert fake_llm.requests[-1].json["messages"] == [*history, {"role": "user", "content": "and now?"}]
    assert turn["messages"] == [*history, {"role": "user", "content": "and now?"}]
    again = api.get(f"/session/{session_id}").json()
    assert len(again["messages"]) == 5002 and again["messages"][-1]["content"] == "still here"
    assert api.get(f"/chat/{turn['id']}").json() == turn


def test_a_patch_during_a_turn_keeps_both_histories(api: Api, fake_llm: FakeLLM) -> None:
    session = api.post(
        "/session", {"assistantId": _assistant(api), "messages": [{"role": "user", "content": "old"}]}
    )
    session_id = session.json()["id"]
    fake_llm.push(FakeReply(text="slow answer", delay_seconds=0.5))
    with ThreadPoolExecutor(1) as pool:
        turn = pool.submit(api.chat, sessionId=session_id, input="q")
        time.sleep(0.2)
        patched = api.patch(f"/session/{session_id}", {"messages": [{"role": "user", "content": "new"}]})
        assert patched.status_code == 200
        chat = turn.result()
    assert _contents(chat["messages"]) == ["old", "q"]  # what the turn saw
    assert api.get(f"/chat/{chat['id']}").json() == chat
    assert _contents(api.get(f"/session/{session_id}").json()["messages"]) == ["new", "q", "slow answer"]


def test_deleting_the_previous_chat_during_a_turn_loses_nothing(
    api: Api, server: ServerThread, fake_llm: FakeLLM
) -> None:
    secret = uuid.uuid4().hex
    fake_llm.push(FakeReply(text="first"), FakeReply(text="second", delay_seconds=0.5))
    first = api.chat(assistantId=_assistant(api), input=secret)
    with ThreadPoolExecutor(1) as pool:
        turn = pool.submit(api.chat, previousChatId=first["id"], input="more")
        time.sleep(0.2)
        assert api.delete(f"/chat/{first['id']}").status_code == 200
        chat = turn.result()
    assert _contents(chat["messages"]) == [secret, "first", "more"]
    assert api.get(f"/chat/{chat['id']}").json() == chat
    api.delete(f"/chat/{chat['id']}")
    assert _rows_containing(server, secret) == 0


def test_concurrent_continuations_of_one_chat_each_get_their_branch(api: Api, fake_llm: FakeLLM) -> None:
    fake_llm.push(FakeReply(text="root"))
    root = api.chat(assistantId=_assistant(api), input="start")
    fake_llm.default_delay_seconds = 0.05
    with ThreadPoolExecutor(8) as pool:
        chats = list(pool.map(lambda n: api.chat(previousChatId=root["id"], input=f"branch {n}"), range(8)))
    for index, chat in enumerate(chats):
        assert _contents(chat["messages"]) == ["start", "root", f"branch {index}"]
        assert api.get(f"/chat/{chat['id']}").json() == chat
    with ThreadPoolExecutor(8) as pool:
        continued = list(pool.map(lambda c: api.chat(previousChatId=c["id"], input="next"), chats))
    for index, chat in enumerate(continued):
        assert _contents(chat["messages"])[:-2] == ["start", "root", f"branch {index}"]


def test_forks_of_forks_stay_correct_beyond_the_ancestry_limit(api: Api, fake_llm: FakeLLM) -> None:
    tip = api.chat(assistantId=_assistant(api), input="0")
    expected = ["0", tip["output"][0]["content"]]
    for depth in range(1, 30):
        api.chat(previousChatId=tip["id"], input=f"sibling {depth}")  # appended in place: tip is now inside
        tip = api.chat(previousChatId=tip["id"], input=str(depth))  # so this one forks, one level deeper
        assert _contents(tip["messages"]) == [*expected, str(depth)]
        expected = [*expected, str(depth), tip["output"][0]["content"]]
        assert api.get(f"/chat/{tip['id']}").json() == tip
    assert _contents(fake_llm.requests[-1].json["messages"]) == expected[:-1]


JOBS_TABLE = re.compile(r"\b(FROM|INTO|UPDATE)\s+jobs\b")


def test_reads_take_a_constant_number_of_queries(api: Api, server: ServerThread, fake_llm: FakeLLM) -> None:
    assistant_id = _assistant(api)
    tip = api.chat(assistantId=assistant_id, input="0")
    for depth in range(1, 12):
        api.chat(previousChatId=tip["id"], input="sibling")
        tip = api.chat(previousChatId=tip["id"], input=str(depth))
    session = api.post("/session", {"assistantId": assistant_id, "messages": tip["messages"]}).json()
    for _ in range(3):
        api.chat(sessionId=session["id"], input="more")
    # A second server on the same database with no message cache: every read starts cold.
    cold = ServerThread(server.settings.model_copy(update={"message_cache_mb": 0})).start()
    client = Api(cold.url, api.key)
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # The servers' background-job runners poll the jobs table meanwhile: not the read's queries.
        if not JOBS_TABLE.search(statement):
            statements.append(statement)

    try:
        assert client.get("/assistant").status_code == 200  # the key is verified (and cached) here
        event.listen(Engine, "before_cursor_execute", record)
        try:
            for path, most in ((f"/chat/{tip['id']}", 3), (f"/session/{session['id']}", 3)):
                expected = api.get(path).json()
                statements.clear()
                assert client.get(path).json() == expected
                assert len(statements) <= most, (path, statements)
            expected = api.get("/chat", params={"limit": 100}).json()
            statements.clear()
            page = client.get("/chat", params={"limit": 100}).json()
            assert page == expected and len(page["results"]) == 26 and len(statements) <= 4, statements
        finally:
            event.remove(Engine, "before_cursor_execute", record)
    finally:
        client.close()
        cold.stop()


def test_two_processes_share_conversations_through_their_caches(
    api: Api, server: ServerThread, fake_llm: FakeLLM
) -> None:
    """Turns alternate between two servers on one database: each one's cache is behind the other's
    writes and must read only what it lacks, and a deletion through one is seen by the other."""
    second = ServerThread(server.settings).start()
    other = Api(second.url, api.key)
    try:
        assistant_id = _assistant(api)
        session_id = api.post("/session", {"assistantId": assistant_id}).json()["id"]
        chat = api.chat(assistantId=assistant_id, input="c0")
        expected_chain = ["c0", chat["output"][0]["content"]]
        expected_session: list[Any] = []
        for index in range(1, 7):
            client = (api, other)[index % 2]
            chat = client.chat(previousChatId=chat["id"], input=f"c{index}")
            assert _contents(chat["messages"]) == [*expected_chain, f"c{index}"]
            expected_chain = [*expected_chain, f"c{index}", chat["output"][0]["content"]]
            turn = client.chat(sessionId=session_id, input=f"s{index}")
            assert _contents(turn["messages"]) == [*expected_session, f"s{index}"]
            expected_session = [*expected_session, f"s{index}", turn["output"][0]["content"]]
            for reader in (api, other):
                assert reader.get(f"/chat/{chat['id']}").json() == chat
                assert _contents(reader.get(f"/session/{session_id}").json()["messages"]) == expected_session
        replaced = [{"role": "user", "content": "replaced"}]
        assert other.patch(f"/session/{session_id}", {"messages": replaced}).status_code == 200
        turn = api.chat(sessionId=session_id, input="after")
        assert _contents(turn["messages"]) == ["replaced", "after"]
        assert other.delete(f"/chat/{chat['id']}").status_code == 200
        assert api.get(f"/chat/{chat['id']}").status_code == 404
    finally:
        other.close()
        second.stop()


def test_a_continuing_turn_writes_without_a_locking_read(
    api: Api, server: ServerThread, fake_llm: FakeLLM
) -> None:
    """The usual chain and session turns: on PostgreSQL the chat, its messages and the session's new end
    are one statement (no BEGIN/COMMIT, no SELECT ... FOR UPDATE); on SQLite a session's turn starts by
    recording itself on the session, without reading it again."""
    assistant_id = _assistant(api)
    session = api.post(
        "/session", {"assistantId": assistant_id, "messages": [{"role": "user", "content": "h"}]}
    ).json()
    fake_llm.push(*(FakeReply(text=f"r{n}") for n in range(5)))
    first = api.chat(assistantId=assistant_id, input="a")
    second = api.chat(previousChatId=first["id"], input="b")  # the chain's first continuation starts its log
    api.chat(sessionId=session["id"], input="c")
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(" ".join(statement.split()))

    class Raw(logging.Handler):  # the statements that go straight to asyncpg (store/raw_postgres.py)
        def emit(self, record: logging.LogRecord) -> None:
            statements.append(" ".join(record.getMessage().split()))

    raw, handler = logging.getLogger("chatloom.store.raw"), Raw()
    raw.addHandler(handler)
    raw.setLevel(logging.DEBUG)
    event.listen(Engine, "before_cursor_execute", record)
    try:
        third = api.chat(previousChatId=second["id"], input="d")
        chain_statements = list(statements)
        statements.clear()
        turn = api.chat(sessionId=session["id"], input="e")
        session_statements = list(statements)
    finally:
        event.remove(Engine, "before_cursor_execute", record)
        raw.removeHandler(handler)
        raw.setLevel(logging.NOTSET)
    if server.settings.database_url.startswith("postgresql"):
        assert [s[:8] for s in chain_statements] == ["SELECT *", "WITH hel"], chain_statements
        assert [s[:6] for s in session_statements] == ["UPDATE", "WITH l"], session_statements
    else:  # the chain: its chat, the log advanced, its messages, the chat
        assert [s[:20] for s in chain_statements] == [
            "SELECT * FROM chats ",
            "UPDATE message_logs ",
            "INSERT INTO log_mess",
            "INSERT INTO chats (i",
        ], chain_statements
        assert [s[:20] for s in session_statements] == [  # the lease, then the same with the session
            "UPDATE sessions SET ",
            "UPDATE sessions SET ",
            "UPDATE message_logs ",
            "INSERT INTO log_mess",
            "INSERT INTO chats (i",
        ], session_statements
        assert "RETURNING" not in session_statements[1], session_statements
    assert _contents(third["messages"]) == ["a", "r0", "b", "r1", "d"]
    assert api.get(f"/chat/{third['id']}").json() == third
    assert api.get(f"/chat/{turn['id']}").json() == turn
    stored = api.get(f"/session/{session['id']}").json()
    assert _contents(stored["messages"]) == ["h", "c", "r2", "e", "r4"]
    assert stored["cost"] == pytest.approx(turn["cost"] * 2, rel=0.5) and stored["cost"] > turn["cost"]
