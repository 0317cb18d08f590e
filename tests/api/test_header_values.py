"""Values that go into HTTP headers (keys, tokens, header names and values) are checked when saved: one
that a header cannot carry is a 400 naming its field, never a stored value that breaks every later turn.
A provider that quotes the key it was sent has it masked before its message reaches anyone."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from chatloom.config import Settings
from chatloom.testing.fake_llm import FakeLLM, FakeReply
from tests.conftest import TEST_SECRET_KEY, provider_environment
from tests.support.client import Api
from tests.support.server import ServerThread

OPENAI = {"provider": "openai", "model": "gpt-4o-mini"}
BAD_VALUE = "sk-abc\u0001def-0123456789"
INJECTED = "t\r\nX-Injected: 1"


def refused(response: Any, field: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert field in str(body["message"]), body
    assert "control character" in str(body["message"]) or "header name" in str(body["message"]), body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"provider": "openai", "apiKey": BAD_VALUE}, "apiKey"),
        (
            {"provider": "custom-credential", "authenticationPlan": {"type": "bearer", "token": INJECTED}},
            "authenticationPlan.token",
        ),
        (
            {
                "provider": "custom-credential",
                "authenticationPlan": {"type": "bearer", "token": "fine-token-123", "headerName": "X Bad"},
            },
            "authenticationPlan.headerName",
        ),
    ],
)
def test_a_credential_a_header_cannot_carry_is_refused(api: Api, body: dict[str, Any], field: str) -> None:
    refused(api.post("/credential", body), field)
    assert api.get("/credential").json() == [], "nothing was stored"


def test_a_credential_update_is_checked_too(api: Api) -> None:
    created = api.post("/credential", {"provider": "openai", "apiKey": "sk-" + "a" * 24}).json()
    refused(api.patch(f"/credential/{created['id']}", {"apiKey": BAD_VALUE}), "apiKey")


@pytest.mark.parametrize(
    ("assistant", "field"),
    [
        (
            {
                "model": {
                    **OPENAI,
                    "provider": "custom-llm",
                    "url": "http://127.0.0.1:9/v1",
                    "headers": {"X-Key": INJECTED},
                }
            },
            "model.headers.X-Key",
        ),
        (
            {
                "model": {
                    **OPENAI,
                    "provider": "custom-llm",
                    "url": "http://127.0.0.1:9/v1",
                    "headers": {"Bad Name": "v"},
                }
            },
            "model.headers.Bad Name",
        ),
        (
            {"model": OPENAI, "credentials": [{"provider": "openai", "apiKey": BAD_VALUE}]},
            "credentials[0].apiKey",
        ),
        (
            {"model": OPENAI, "server": {"url": "http://127.0.0.1:9/hooks", "headers": {"X-Hook": INJECTED}}},
            "server.headers.X-Hook",
        ),
    ],
)
def test_an_assistant_with_an_unsendable_header_is_refused(
    api: Api, assistant: dict[str, Any], field: str
) -> None:
    refused(api.post("/assistant", assistant), field)
    refused(api.post("/chat", {"assistant": assistant, "input": "hi"}), f"assistant.{field}")
    stored = api.create_assistant()
    refused(
        api.post("/chat", {"assistantId": stored["id"], "assistantOverrides": assistant, "input": "hi"}),
        f"assistantOverrides.{field}",
    )


def test_tools_are_checked(api: Api) -> None:
    tool = {
        "type": "apiRequest",
        "method": "GET",
        "url": "http://127.0.0.1:9/x",
        "headers": {"type": "object", "properties": {"X-Key": {"type": "string", "value": INJECTED}}},
    }
    refused(api.post("/tool", tool), "headers.properties.X-Key.value")
    function = {
        "type": "function",
        "function": {"name": "f"},
        "server": {"url": "http://127.0.0.1:9/t", "headers": {"X-Token": BAD_VALUE}},
    }
    refused(api.post("/tool", function), "server.headers.X-Token")


def test_free_text_keeps_its_line_breaks(api: Api) -> None:
    chat = api.chat(
        assistant={"model": OPENAI},
        input="first line\nsecond line",
        assistantOverrides={"variableValues": {"token": "a\nb"}},
    )
    assert chat["output"][0]["content"] == "You said: first line\nsecond line"


@pytest.fixture
def keyed_badly(backend: str, fake_llm: FakeLLM) -> Iterator[Api]:
    """A server whose own environment key holds a control character (as a value stored before this
    check existed would)."""
    settings_env = {**provider_environment(fake_llm), "OPENAI_API_KEY": BAD_VALUE}
    thread = ServerThread(
        Settings(
            database_url=backend, provider_env=settings_env, llm_timeout_seconds=5, secret_key=TEST_SECRET_KEY
        )
    ).start()
    api = Api(thread.url, thread.create_key(f"org-{uuid.uuid4().hex[:10]}"))
    yield api
    api.close()
    thread.stop()


def test_an_unsendable_stored_key_is_a_clear_400_not_a_502(keyed_badly: Api) -> None:
    response = keyed_badly.post("/chat", {"assistant": {"model": OPENAI}, "input": "hi"})
    assert response.status_code == 400, response.text
    assert "header" in str(response.json()["message"]) and "openai" in str(response.json()["message"])


@pytest.mark.parametrize("stream", [False, True])
def test_a_provider_quoting_the_key_has_it_masked(api: Api, fake_llm: FakeLLM, stream: bool) -> None:
    key = f"sk-quoted-{uuid.uuid4().hex}"
    assert api.post("/credential", {"provider": "openai", "apiKey": key}).status_code == 201
    quoted = {
        "error": {"message": f"Incorrect API key provided: Bearer {key}.", "type": "invalid_request_error"}
    }
    fake_llm.push(FakeReply(status=401, error_body=quoted))
    if stream:
        with api.http.stream(
            "POST", "/chat", json={"assistant": {"model": OPENAI}, "input": "hi", "stream": True}
        ) as response:
            text = response.read().decode()
    else:
        response = api.post("/chat", {"assistant": {"model": OPENAI}, "input": "hi"})
        assert response.status_code >= 400
        text = response.text
    assert key not in text and "Incorrect API key provided" in text and "[redacted]" in text
