"""Server messages: chat and session events reach the assistant's server once, only when enabled,
signed when a secret is set, and a failing endpoint never fails a request."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterator
from typing import Any

import pytest

from chatloom.testing.http_recorder import HttpRecorder, Scripted
from tests.support.client import Api

ALL = ["chat.created", "chat.deleted", "session.created", "session.updated", "session.deleted"]


@pytest.fixture(scope="session")
def hooks_server() -> Iterator[HttpRecorder]:
    with HttpRecorder().start() as recorder:
        yield recorder


@pytest.fixture
def hooks(hooks_server: HttpRecorder) -> HttpRecorder:
    hooks_server.reset()
    return hooks_server


def hooked_assistant(api: Api, url: str, enabled: list[str], **server: Any) -> dict[str, Any]:
    return api.create_assistant(
        serverMessages=enabled, server={"url": url, "headers": {"X-Hook": "yes"}, **server}
    )


def messages(hooks: HttpRecorder, count: int, path: str = "/hooks") -> list[dict[str, Any]]:
    return [call.json["message"] for call in hooks.wait_for(count, path=path)]


def test_each_enabled_type_arrives_once_with_its_object(api: Api, hooks: HttpRecorder) -> None:
    assistant = hooked_assistant(api, f"{hooks.url}/hooks", ALL)
    chat = api.chat(assistantId=assistant["id"], input="hello")
    [created] = messages(hooks, 1)
    assert created["type"] == "chat.created" and created["chat"]["id"] == chat["id"]
    assert created["chat"]["output"] == chat["output"] and created["assistant"]["id"] == assistant["id"]
    assert created["timestamp"] > 0 and hooks.calls_to("/hooks")[0].headers["X-Hook"] == "yes"

    api.delete(f"/chat/{chat['id']}")
    session = api.post("/session", {"assistantId": assistant["id"]}).json()
    api.patch(f"/session/{session['id']}", {"name": "renamed"})
    api.delete(f"/session/{session['id']}")
    received = messages(hooks, 5)
    assert [m["type"] for m in received] == ALL
    assert received[1]["chat"]["id"] == chat["id"]
    assert received[2]["session"]["id"] == session["id"]
    assert received[3]["session"]["name"] == "renamed"
    assert received[4]["session"]["id"] == session["id"]
    time.sleep(0.2)
    assert len(hooks.calls_to("/hooks")) == 5, "each message arrives once"


def test_only_enabled_types_are_sent(api: Api, hooks: HttpRecorder) -> None:
    assistant = hooked_assistant(api, f"{hooks.url}/hooks", ["chat.deleted"])
    chat = api.chat(assistantId=assistant["id"], input="hello")
    api.delete(f"/chat/{chat['id']}")
    assert [m["type"] for m in messages(hooks, 1)] == ["chat.deleted"]
    silent = api.create_assistant(server={"url": f"{hooks.url}/silent"})
    api.chat(assistantId=silent["id"], input="x")
    time.sleep(0.3)
    assert hooks.calls_to("/silent") == [], "no serverMessages, no messages"


def test_overrides_choose_the_server_and_types(api: Api, hooks: HttpRecorder) -> None:
    assistant = hooked_assistant(api, f"{hooks.url}/assistant-hooks", ALL)
    api.chat(
        assistantId=assistant["id"],
        input="x",
        assistantOverrides={"server": {"url": f"{hooks.url}/override"}, "serverMessages": ["chat.created"]},
    )
    assert messages(hooks, 1, path="/override")[0]["type"] == "chat.created"
    assert hooks.calls_to("/assistant-hooks") == []


def test_signed_when_a_secret_is_set(api: Api, hooks: HttpRecorder) -> None:
    assistant = hooked_assistant(api, f"{hooks.url}/hooks", ["chat.created"], secret="whsec-test")
    api.chat(assistantId=assistant["id"], input="x")
    [call] = hooks.wait_for(1, path="/hooks")
    timestamp = call.headers["X-Chatloom-Timestamp"]
    expected = hmac.new(b"whsec-test", timestamp.encode() + b"." + call.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(call.headers["X-Chatloom-Signature"], f"sha256={expected}")
    assert "secret" not in call.json["message"]["assistant"]["server"], "the secret is never sent"


def test_a_failing_endpoint_never_fails_a_chat(api: Api, hooks: HttpRecorder) -> None:
    hooks.script("/broken", *[Scripted(status=500)] * 20)
    assistant = hooked_assistant(
        api,
        f"{hooks.url}/broken",
        ["chat.created"],
        backoffPlan={"type": "fixed", "maxRetries": 2, "baseDelaySeconds": 0.05},
    )
    started = time.monotonic()
    chat = api.chat(assistantId=assistant["id"], input="x")
    assert time.monotonic() - started < 2 and chat["output"]
    assert len(hooks.wait_for(3, path="/broken")) == 3, "retried with the server's backoff plan"
    unreachable = hooked_assistant(api, "http://127.0.0.1:9/hooks", ["chat.created"])
    assert api.post("/chat", {"assistantId": unreachable["id"], "input": "x"}).status_code == 200
