"""End to end: the real `chatloom serve` process, API keys made with the `chatloom keys` CLI."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from chatloom.testing.fake_llm import FakeLLM, FakeReply
from chatloom.testing.http_recorder import HttpRecorder, Scripted
from tests.support.concurrency import assert_serialized, parallel_session_chats
from tests.support.serve import CHATLOOM, ServeProcess, ServeProcesses, cli


@pytest.fixture
def environment(backend: str, fake_llm: FakeLLM, tmp_path: Path) -> dict[str, str]:
    prices = tmp_path / "prices.json"
    prices.write_text('{"openai/gpt-4o-mini": {"input": 1.0, "output": 2.0}}')
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env.update(
        CHATLOOM_PRICES_FILE=str(prices),
        CHATLOOM_DATABASE_URL=backend,
        CHATLOOM_AUTH_CACHE_SECONDS="0",
        OPENAI_API_KEY="sk-e2e",
        OPENAI_BASE_URL=fake_llm.base_url,
    )
    return env


@pytest.fixture
def served(environment: dict[str, str], servers: ServeProcesses) -> str:
    return servers.start(environment).url


def test_serve_keys_chat_stream_and_revoke(served: str, environment: dict[str, str]) -> None:
    org = f"e2e-{os.getpid()}-{time.monotonic_ns()}"
    key = cli(environment, "keys", "create", "--org", org).strip().splitlines()[-1]
    assert key.startswith("cl_")
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=served, headers=headers, timeout=30) as client:
        assistant = client.post(
            "/assistant", json={"model": {"provider": "openai", "model": "gpt-4o-mini"}}
        ).json()
        chat = client.post("/chat", json={"assistantId": assistant["id"], "input": "hello"}).json()
        assert chat["output"][0]["content"] == "You said: hello"
        usage = chat["costs"][0]
        expected = (usage["promptTokens"] * 1.0 + usage["completionTokens"] * 2.0) / 1_000_000
        assert abs(chat["cost"] - expected) < 1e-12, "CHATLOOM_PRICES_FILE overrides the price table"
        with client.stream(
            "POST", "/chat", json={"previousChatId": chat["id"], "input": "more", "stream": True}
        ) as r:
            lines = [line for line in r.iter_lines() if line.startswith("data: ")]
        assert lines[-1] == "data: [DONE]" and len(lines) >= 2

        listed = cli(environment, "keys", "list", "--org", org)
        assert key[:10] in listed and "active" in listed
        assert key not in listed, "keys are never shown again"
        cli(environment, "keys", "revoke", key[:10])
        assert client.get("/chat").status_code == 401


def test_two_server_processes_serialize_one_session(environment: dict[str, str], fake_llm: FakeLLM) -> None:
    fake_llm.default_delay_seconds = 0.05
    key = (
        cli(environment, "keys", "create", "--org", f"e2e-pair-{time.monotonic_ns()}")
        .strip()
        .splitlines()[-1]
    )
    with ServeProcess(environment) as first_server, ServeProcess(environment) as second_server:
        first, second = first_server.url, second_server.url
        headers = {"Authorization": f"Bearer {key}"}
        assistant = httpx.post(
            f"{first}/assistant",
            json={"model": {"provider": "openai", "model": "gpt-4o-mini"}},
            headers=headers,
        ).json()
        session = httpx.post(
            f"{first}/session", json={"assistantId": assistant["id"]}, headers=headers
        ).json()
        responses = parallel_session_chats([first, second], key, session["id"], 10)
        assert [r.status_code for r in responses] == [200] * 10, [r.text for r in responses]
        stored = httpx.get(f"{second}/session/{session['id']}", headers=headers).json()
    assert_serialized(stored, fake_llm, 10)


def test_tool_server_and_webhooks_end_to_end(
    served: str, environment: dict[str, str], fake_llm: FakeLLM
) -> None:
    key = (
        cli(environment, "keys", "create", "--org", f"e2e-tools-{time.monotonic_ns()}")
        .strip()
        .splitlines()[-1]
    )
    with HttpRecorder().start() as backend:
        backend.script("/tools", Scripted(json={"results": [{"toolCallId": "t1", "result": "42 apples"}]}))
        tool = {
            "type": "function",
            "function": {"name": "count_apples", "parameters": {"type": "object", "properties": {}}},
            "server": {"url": f"{backend.url}/tools"},
        }
        assistant = {
            "model": {"provider": "openai", "model": "gpt-4o-mini", "tools": [tool]},
            "server": {"url": f"{backend.url}/hooks", "secret": "e2e-secret"},
            "serverMessages": ["chat.created"],
        }
        call = {"id": "t1", "type": "function", "function": {"name": "count_apples", "arguments": "{}"}}
        fake_llm.push(FakeReply(tool_calls=[call]), FakeReply(text="There are 42 apples."))
        headers = {"Authorization": f"Bearer {key}"}
        chat = httpx.post(
            f"{served}/chat", json={"assistant": assistant, "input": "Apples?"}, headers=headers
        ).json()
        assert [m["role"] for m in chat["output"]] == ["assistant", "tool", "assistant"]
        assert chat["output"][1]["content"] == "42 apples"
        [hook] = backend.wait_for(1, path="/hooks")
        assert (
            hook.json["message"]["type"] == "chat.created"
            and hook.json["message"]["chat"]["id"] == chat["id"]
        )
        assert hook.headers["X-Chatloom-Signature"].startswith("sha256=")


def test_public_keys_from_the_cli_open_web_chat_only(served: str, environment: dict[str, str]) -> None:
    org = f"e2e-web-{time.monotonic_ns()}"
    private = cli(environment, "keys", "create", "--org", org).strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {private}"}
    assistant = httpx.post(
        f"{served}/assistant", json={"model": {"provider": "openai", "model": "gpt-4o-mini"}}, headers=headers
    ).json()
    created = cli(
        environment,
        "keys", "create", "--org", org, "--public",
        "--origin", "https://Shop.example:443/", "--origin", "http://localhost:3000",
        "--assistant", assistant["id"],
    )  # fmt: skip
    public = created.strip().splitlines()[-1]
    assert public.startswith("cl_pub_") and "https://shop.example, http://localhost:3000" in created
    anywhere = cli(environment, "keys", "create", "--org", org, "--public")
    assert "origins: any" in anywhere and "assistants: any" in anywhere
    listed = cli(environment, "keys", "list", "--org", org)
    assert f"public origins=http://localhost:3000,https://shop.example assistants={assistant['id']}" in listed
    assert listed.count("private") == 1

    page = {"Authorization": f"Bearer {public}", "Origin": "https://shop.example"}
    body = {"assistantId": assistant["id"], "input": "hello"}
    reply = httpx.post(f"{served}/chat/web", json=body, headers=page, timeout=30)
    assert reply.status_code == 200 and reply.json()["output"][0]["content"] == "You said: hello"
    assert httpx.get(f"{served}/session", headers=page).status_code == 401

    refused = subprocess.run(
        [CHATLOOM, "keys", "create", "--org", org, "--public", "--origin", "shop.example/path"],
        env=environment, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 1 and "origin" in refused.stderr
