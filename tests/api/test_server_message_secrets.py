"""Every server message (webhooks, `tool-calls`, `knowledge-base-request`, `handoff-destination-request`)
carries the `X-Request-Id` of the request that caused it, and no secret at any depth: not the signing
secret of another server, not a credential's key, not a header value."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from chatloom.testing.fake_llm import FakeLLM, FakeReply
from chatloom.testing.http_recorder import HttpRecorder, RecordedCall, Scripted
from tests.support.client import Api

MESSAGES = ["chat.created", "chat.deleted", "session.created", "session.updated", "session.deleted"]


@pytest.fixture
def servers() -> Iterator[HttpRecorder]:
    with HttpRecorder().start() as recorder:
        recorder.on("/tools", lambda call: Scripted(json={"results": [{"toolCallId": "t1", "result": "ok"}]}))
        recorder.on("/kb", lambda _call: Scripted(json={"documents": [{"content": "30 days"}]}))
        yield recorder


def secrets() -> dict[str, str]:
    return {name: f"{name}-{uuid.uuid4().hex}" for name in ("hook", "kb", "tool", "header", "key", "token")}


def equipped_model(url: str, s: dict[str, str]) -> dict[str, Any]:
    """A custom-LLM model with a knowledge base and a server-side tool, each with its own secret."""
    return {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "headers": {"X-Upstream-Key": s["header"]},
        "knowledgeBase": {
            "provider": "custom-knowledge-base",
            "server": {"url": f"{url}/kb", "secret": s["kb"], "headers": {"X-Kb": s["header"]}},
        },
        "tools": [
            {
                "type": "function",
                "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}},
                "server": {"url": f"{url}/tools", "secret": s["tool"], "headers": {"X-Tool": s["header"]}},
            }
        ],
    }


def equipped_assistant(url: str, s: dict[str, str]) -> dict[str, Any]:
    return {
        "name": "Equipped",
        "model": equipped_model(url, s),
        "server": {"url": f"{url}/hooks", "secret": s["hook"]},
        "serverMessages": MESSAGES,
        "credentials": [
            {"provider": "groq", "apiKey": s["key"]},
            {
                "provider": "custom-credential",
                "authenticationPlan": {"type": "bearer", "token": s["token"], "headerName": "X-Auth"},
            },
        ],
    }


def tool_call() -> dict[str, Any]:
    return {"id": "t1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}


def assert_no_secret(calls: list[RecordedCall], s: dict[str, str]) -> None:
    assert calls
    for call in calls:
        for name, value in s.items():
            assert value.encode() not in call.body, f"{call.path} carries the {name} secret"


def test_no_secret_of_any_server_reaches_any_other(
    api: Api, fake_llm: FakeLLM, servers: HttpRecorder
) -> None:
    s = secrets()
    created = api.post("/assistant", equipped_assistant(servers.url, s))
    assert created.status_code == 201, created.text
    assistant = created.json()
    fake_llm.push(FakeReply(tool_calls=[tool_call()]), FakeReply(text="Done."))
    chat = api.chat(assistantId=assistant["id"], input="Look it up")
    api.delete(f"/chat/{chat['id']}")
    session = api.post("/session", {"assistantId": assistant["id"]}).json()
    api.patch(f"/session/{session['id']}", {"name": "renamed"})
    api.delete(f"/session/{session['id']}")
    servers.wait_for(5, path="/hooks")
    assert servers.calls_to("/kb") and servers.calls_to("/tools")
    assert_no_secret(servers.calls, s)
    tool_calls = servers.calls_to("/tools")[0].json["message"]
    listed = tool_calls["toolWithToolCallList"][0]
    assert listed["server"]["url"] == f"{servers.url}/tools" and "secret" not in listed["server"]


def test_inline_assistants_lose_their_secrets_too(api: Api, fake_llm: FakeLLM, servers: HttpRecorder) -> None:
    s = secrets()
    fake_llm.push(FakeReply(tool_calls=[tool_call()]), FakeReply(text="Done."))
    chat = api.chat(assistant=equipped_assistant(servers.url, s), input="Look it up")
    session = api.post("/session", {"assistant": equipped_assistant(servers.url, s)}).json()
    api.delete(f"/session/{session['id']}")
    servers.wait_for(3, path="/hooks")
    assert_no_secret(servers.calls, s)
    created = next(c.json["message"] for c in servers.calls_to("/hooks") if c.json["message"]["chat"])
    assert created["chat"]["id"] == chat["id"]


def test_every_server_message_carries_the_request_id(
    api: Api, fake_llm: FakeLLM, servers: HttpRecorder
) -> None:
    s = secrets()
    assistant = api.post("/assistant", equipped_assistant(servers.url, s)).json()
    handoff = {
        "type": "handoff",
        "destinations": [{"type": "dynamic", "server": {"url": f"{servers.url}/handoff"}}],
    }
    servers.on("/handoff", lambda _call: Scripted(json={"destination": {"assistantId": assistant["id"]}}))
    router = api.create_assistant(model={"provider": "openai", "model": "gpt-4o-mini", "tools": [handoff]})
    call = {"id": "h1", "type": "function", "function": {"name": "handoff", "arguments": "{}"}}
    fake_llm.push(
        FakeReply(tool_calls=[call]),  # the router hands off, asking the dynamic server where to
        FakeReply(tool_calls=[tool_call()]),  # the equipped assistant calls its tool
        FakeReply(text="Done."),
    )
    response = api.post(
        "/chat", {"assistantId": router["id"], "input": "Route me"}, headers={"X-Request-Id": "req-42"}
    )
    assert response.status_code == 200, response.text
    servers.wait_for(1, path="/hooks")  # chat.created, from the assistant that answered
    for path in ("/handoff", "/tools", "/hooks"):
        calls = servers.calls_to(path)
        assert calls, f"nothing reached {path}"
        assert {c.headers.get("x-request-id") for c in calls} == {"req-42"}, path
    grounded = api.post(
        "/chat", {"assistantId": assistant["id"], "input": "Policies?"}, headers={"X-Request-Id": "req-43"}
    )
    assert grounded.status_code == 200, grounded.text
    assert [c.headers.get("x-request-id") for c in servers.calls_to("/kb")] == ["req-43"]
