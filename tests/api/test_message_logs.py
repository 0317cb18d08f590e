"""Conversations stored once: chains and forks share messages, PATCH and DELETE leave other records as
they were, long sessions read back and continue, and deleted conversations leave no text behind."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy import func, select
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
