"""A credential created after an org's first turn is used by the very next turn on the same server, and by
every other server within `CHATLOOM_ASSISTANT_CACHE_SECONDS` (the org's credentials are cached that long)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from chatloom.testing.fake_llm import FakeLLM, FakeReply
from chatloom.testing.http_recorder import HttpRecorder, Scripted
from tests.support.client import Api
from tests.support.server import ServerThread

OPENAI = {"provider": "openai", "model": "gpt-4o-mini"}


@pytest.fixture
def recorder() -> Iterator[HttpRecorder]:
    with HttpRecorder().start() as recorder:
        yield recorder


def secret(label: str) -> str:
    return f"sk-{label}-{uuid.uuid4().hex}"


def key_used(fake: FakeLLM) -> str:
    return str(fake.requests[-1].headers.get("Authorization", ""))


def created(api: Api, **fields: Any) -> dict[str, Any]:
    response = api.post("/credential", fields)
    assert response.status_code == 201, response.text
    return dict(response.json())


@pytest.mark.parametrize(
    ("provider", "model", "header", "expected"),
    [
        ("openai", OPENAI, "Authorization", "Bearer {key}"),
        ("anthropic", {"provider": "anthropic", "model": "claude-3-5-haiku-20241022"}, "x-api-key", "{key}"),
        ("custom-llm", {"provider": "custom-llm", "model": "local"}, "Authorization", "Bearer {key}"),
    ],
)
def test_a_credential_created_after_the_first_turn_is_used_by_the_next(
    api: Api, fake_llm: FakeLLM, provider: str, model: dict[str, Any], header: str, expected: str
) -> None:
    if provider == "custom-llm":
        model = {**model, "url": fake_llm.base_url}
    api.chat(assistant={"model": model}, input="before")  # caches the org's (empty) credentials
    key = secret(provider)
    created(api, provider=provider, apiKey=key)
    api.chat(assistant={"model": model}, input="after")
    assert fake_llm.requests[-1].headers.get(header) == expected.format(key=key)


def test_a_tool_credential_created_after_the_first_turn_is_used(
    api: Api, fake_llm: FakeLLM, recorder: HttpRecorder
) -> None:
    recorder.on("/tool", lambda _call: Scripted(json={"results": [{"toolCallId": "t1", "result": "ok"}]}))
    api.chat(assistant={"model": OPENAI}, input="warm the cache")
    token = secret("tool")
    credential = created(
        api, provider="custom-credential", authenticationPlan={"type": "bearer", "token": token}
    )
    tool = {
        "type": "function",
        "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}},
        "server": {"url": f"{recorder.url}/tool", "credentialId": credential["id"]},
    }
    call = {"id": "t1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
    fake_llm.push(FakeReply(tool_calls=[call]), FakeReply(text="done"))
    api.chat(assistant={"model": {**OPENAI, "tools": [tool]}}, input="look it up")
    assert recorder.calls_to("/tool")[-1].headers.get("Authorization") == f"Bearer {token}"


@pytest.fixture
def second_server(server: ServerThread) -> Iterator[ServerThread]:
    """Another server on the same database, with a short cache."""
    thread = ServerThread(server.settings.model_copy(update={"assistant_cache_seconds": 1.0})).start()
    yield thread
    thread.stop()


def test_another_server_sees_a_new_credential_within_the_cache_time(
    api: Api, fake_llm: FakeLLM, second_server: ServerThread
) -> None:
    elsewhere = Api(second_server.url, api.key)
    try:
        elsewhere.chat(assistant={"model": OPENAI}, input="before")
        assert key_used(fake_llm) == "Bearer sk-test-openai"
        key = secret("fleet")
        created(api, provider="openai", apiKey=key)
        deadline = time.monotonic() + 1.0 + 2.0  # the cache time, and a margin for a loaded machine
        while True:
            elsewhere.chat(assistant={"model": OPENAI}, input="after")
            if key_used(fake_llm) == f"Bearer {key}":
                break
            assert time.monotonic() < deadline, "the other server kept the old credentials too long"
            time.sleep(0.1)
    finally:
        elsewhere.close()
