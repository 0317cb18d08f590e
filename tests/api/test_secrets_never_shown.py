"""A full scenario with org and inline credentials: no response body, webhook body, log line or stored
row holds a plaintext secret; tool servers and webhooks get their `credentialId`'s bearer token."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from sqlalchemy import text

from chatloom.store.db import create_engine
from chatloom.testing.fake_llm import FakeLLM, FakeReply
from chatloom.testing.http_recorder import HttpRecorder, Scripted
from tests.support.client import Api
from tests.support.server import ServerThread

TABLES = ("credentials", "assistants", "chats", "sessions")


@pytest.fixture
def recorder() -> Iterator[HttpRecorder]:
    with HttpRecorder().start() as recorder:
        yield recorder


def secret(label: str) -> str:
    return f"sk-{label}-{uuid.uuid4().hex}"


def stored_rows(database_url: str) -> str:
    """Every row of the tables that may hold credentials, as text."""

    async def read() -> str:
        engine = create_engine(database_url, pool_size=1)
        try:
            async with engine.connect() as conn:
                rows = [
                    repr(tuple(row))
                    for table in TABLES
                    for row in (await conn.execute(text(f"SELECT * FROM {table}"))).all()
                ]
        finally:
            await engine.dispose()
        return "\n".join(rows)

    return asyncio.run(read())


def test_no_plaintext_secret_anywhere(
    api: Api,
    server: ServerThread,
    fake_llm: FakeLLM,
    recorder: HttpRecorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    org_key, tool_token, inline_key, chat_key, session_key = (
        secret(label) for label in ("org", "tool", "inline", "chat", "session")
    )
    secrets = [org_key, tool_token, inline_key, chat_key, session_key]
    bodies: list[str] = []

    def keep(response: Any) -> Any:
        assert response.status_code < 300, response.text
        bodies.append(response.text)
        return response.json()

    keep(api.post("/credential", {"provider": "openai", "apiKey": org_key}))
    bearer = keep(
        api.post(
            "/credential",
            {
                "provider": "custom-credential",
                "name": "tools",
                "authenticationPlan": {"type": "bearer", "token": tool_token, "headerName": "X-Api-Token"},
            },
        )
    )
    recorder.script("/tools", Scripted(json={"results": [{"toolCallId": "call_1", "result": "7 degrees"}]}))
    tool = {
        "type": "function",
        "function": {"name": "weather", "parameters": {"type": "object", "properties": {}}},
        "server": {"url": f"{recorder.url}/tools", "credentialId": bearer["id"]},
    }
    assistant = keep(
        api.post(
            "/assistant",
            {
                "model": {"provider": "groq", "model": "llama", "tools": [tool]},
                "credentials": [{"provider": "groq", "apiKey": inline_key}],
                "server": {"url": f"{recorder.url}/hooks", "credentialId": bearer["id"]},
                "serverMessages": ["chat.created", "chat.deleted"],
            },
        )
    )
    call = {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
    fake_llm.push(FakeReply(tool_calls=[call]), FakeReply(text="It is 7 degrees."))
    chat = keep(api.post("/chat", {"assistantId": assistant["id"], "input": "Weather?"}))
    assert fake_llm.requests[-1].headers["Authorization"] == f"Bearer {inline_key}"
    [tool_call] = recorder.calls_to("/tools")
    assert tool_call.headers["X-Api-Token"] == f"Bearer {tool_token}"
    [hook] = recorder.wait_for(1, path="/hooks")
    assert hook.headers["X-Api-Token"] == f"Bearer {tool_token}"

    inline_assistant = {
        "model": {"provider": "openai", "model": "gpt-4o-mini"},
        "credentials": [{"provider": "openai", "apiKey": chat_key}],
    }
    inline_chat = keep(api.post("/chat", {"assistant": inline_assistant, "input": "hi"}))
    assert fake_llm.requests[-1].headers["Authorization"] == f"Bearer {chat_key}"
    keep(api.post("/chat", {"previousChatId": inline_chat["id"], "input": "again"}))
    assert fake_llm.requests[-1].headers["Authorization"] == f"Bearer {chat_key}"
    with api.http.stream(
        "POST", "/chat", json={"assistant": inline_assistant, "input": "streamed", "stream": True}
    ) as streamed:
        bodies.append(streamed.read().decode())

    session_assistant = {**inline_assistant, "credentials": [{"provider": "openai", "apiKey": session_key}]}
    session = keep(api.post("/session", {"assistant": session_assistant}))
    keep(api.post("/chat", {"sessionId": session["id"], "input": "in a session"}))
    assert fake_llm.requests[-1].headers["Authorization"] == f"Bearer {session_key}"

    for path in (
        "/credential",
        f"/credential/{bearer['id']}",
        "/assistant",
        f"/assistant/{assistant['id']}",
        "/chat",
        f"/chat/{chat['id']}",
        f"/chat/{inline_chat['id']}",
        "/session",
        f"/session/{session['id']}",
    ):
        keep(api.get(path))
    keep(api.delete(f"/chat/{chat['id']}"))
    keep(api.delete(f"/session/{session['id']}"))
    recorder.wait_for(2, path="/hooks")

    shown = orjson.loads(bodies[2])["credentials"]
    assert shown == [{"provider": "groq", "apiKey": "…" + inline_key[-4:]}]
    webhook_bodies = [call.body.decode() for call in recorder.calls]
    logs = caplog.text
    raw = stored_rows(server.settings.database_url)
    for value in secrets:
        for body in bodies:
            assert value not in body
        for body in webhook_bodies:
            assert value not in body
        assert value not in logs
        assert value not in raw, "the database alone reveals no secret"
    assert '"$sealed"' in raw
