"""Hostile input against the real `chatloom serve` process: every answer is a 4xx or the documented 502,
the server's memory stays under 300 MB throughout, and /health answers within 100 ms during a template bomb.

One server process per backend serves the whole module, so its peak memory (VmHWM) covers every probe.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from chatloom.testing.fake_llm import FakeLLM, FakeReply
from tests.support.serve import ServeProcess, cli

pytestmark = pytest.mark.e2e

MEMORY_LIMIT_BYTES = 300 * 1024 * 1024
BOMB = (
    '{% assign s = "xxxxxxxxxx" %}{% for i in (1..40) %}{% assign s = s | append: s %}{% endfor %}'
    "{{ s | size }}"
)
SLOW = '{% for i in (1..100000) %}{{ "ab" | append: "cd" | replace: "a", "zz" | upcase }}{% endfor %}'
OVERSIZED = 20 * 1024 * 1024
"""Bigger than the default upstream limit (16 MB)."""


class Served:
    def __init__(self, server: ServeProcess, key: str, env: dict[str, str]) -> None:
        self.process = server.process
        self.env = env
        self.url = server.url
        self.client = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {key}"}, timeout=60)

    def peak_memory(self) -> int:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
        return int(line.split()[1]) * 1024


@pytest.fixture(scope="module")
def served(backend: str, fake_llm: FakeLLM) -> Iterator[Served]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env.update(
        CHATLOOM_DATABASE_URL=backend,
        CHATLOOM_AUTH_CACHE_SECONDS="60",
        CHATLOOM_LLM_MAX_RETRIES="0",
        OPENAI_API_KEY="sk-hostile",
        OPENAI_BASE_URL=fake_llm.base_url,
    )
    key = cli(env, "keys", "create", "--org", f"hostile-{time.monotonic_ns()}").strip().splitlines()[-1]
    with ServeProcess(env) as server:
        served = Served(server, key, env)
        try:
            yield served
            assert served.peak_memory() < MEMORY_LIMIT_BYTES, f"peak memory {served.peak_memory()} bytes"
            assert server.process.poll() is None, "the server survived every probe"
            assert "Traceback" not in server.output(), "no unexpected error was logged"
        finally:
            served.client.close()


def assistant(served: Served, **model: Any) -> dict[str, Any]:
    body = {"model": {"provider": "openai", "model": "gpt-4o-mini", **model}}
    response = served.client.post("/assistant", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def refused(response: httpx.Response, status: int, *fragments: str) -> str:
    assert response.status_code == status, response.text
    message = response.json()["message"]
    text = message if isinstance(message, str) else "; ".join(message)
    for fragment in fragments:
        assert fragment in text, text
    return text


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


def test_template_bombs_are_refused_while_health_stays_fast(served: Served) -> None:
    latencies: list[float] = []
    stop = threading.Event()

    def watch_health() -> None:
        with httpx.Client(base_url=served.url, timeout=5) as health:
            health.get("/health")  # connects: only the server's answering time is measured below
            while not stop.is_set():
                started = time.perf_counter()
                assert health.get("/health").status_code == 200
                latencies.append(time.perf_counter() - started)
                time.sleep(0.005)

    watcher = threading.Thread(target=watch_health)
    watcher.start()
    try:
        for template in (BOMB, SLOW):
            system = [{"role": "system", "content": "Hi"}, {"role": "system", "content": template}]
            body = {"model": {"provider": "openai", "model": "gpt-4o-mini", "messages": system}}
            refused(served.client.post("/assistant", json=body), 400, "model.messages[1].content")
            chat = {"assistant": body, "input": "hi"}
            refused(served.client.post("/chat", json=chat), 400, "assistant.model.messages[1].content")
            refused(served.client.post("/session", json={"assistant": body}), 400, "messages[1].content")
        by_variables = assistant(
            served, messages=[{"role": "system", "content": "{% for i in (1..1000) %}{{ big }}{% endfor %}"}]
        )
        overrides = {"variableValues": {"big": "y" * 5000}}
        response = served.client.post(
            "/chat", json={"assistantId": by_variables["id"], "input": "hi", "assistantOverrides": overrides}
        )
        refused(response, 400, "output grows past")
    finally:
        stop.set()
        watcher.join()
    assert latencies and max(latencies) < 0.1, f"slowest /health: {max(latencies) * 1000:.0f} ms"


def test_oversized_upstream_answers_are_a_502_and_store_nothing(served: Served, fake_llm: FakeLLM) -> None:
    target = assistant(served)
    fake_llm.push(FakeReply(text="x" * OVERSIZED))
    response = served.client.post("/chat", json={"assistantId": target["id"], "input": "flood me"})
    refused(response, 502, "larger than 16777216 bytes", "CHATLOOM_MAX_UPSTREAM_BYTES")

    fake_llm.push(FakeReply(chunks=["x" * OVERSIZED]))
    body = {"assistantId": target["id"], "input": "flood the stream", "stream": True}
    with served.client.stream("POST", "/chat", json=body) as stream:
        frames = [orjson.loads(line[6:]) for line in stream.iter_lines() if line.startswith("data: {")]
    assert frames[-1]["error"]["statusCode"] == 502
    assert "CHATLOOM_MAX_UPSTREAM_BYTES" in frames[-1]["error"]["message"]

    fake_llm.push(FakeReply(chunks=["x" * OVERSIZED]))
    body = {"assistantId": target["id"], "input": "flood responses", "stream": True}
    with served.client.stream("POST", "/chat/responses", json=body) as stream:
        events = [orjson.loads(line[6:]) for line in stream.iter_lines() if line.startswith("data: {")]
    assert events[-1]["type"] == "response.failed"

    listed = served.client.get("/chat", params={"assistantId": target["id"]}).json()
    assert listed["results"] == [], "a failed turn stores nothing"


@pytest.mark.parametrize("where", ["metadata", "variableValues", "customer"])
def test_deeply_nested_json_is_refused_naming_the_field(served: Served, where: str) -> None:
    deep = nested(300)
    target = assistant(served)
    if where == "metadata":
        body: dict[str, Any] = {"model": {"provider": "openai", "model": "m"}, "metadata": deep}
        refused(served.client.post("/assistant", json=body), 400, "metadata.a.a", "deeper than 64 levels")
    elif where == "variableValues":
        body = {"assistantId": target["id"], "input": "x", "assistantOverrides": {"variableValues": deep}}
        refused(served.client.post("/chat", json=body), 400, "assistantOverrides.variableValues.a")
    else:
        body = {"assistantId": target["id"], "customer": {"name": "Ada", "extra": deep}}
        refused(served.client.post("/session", json=body), 400, "customer.extra.a", "64 levels")
    shallow = {
        "assistantId": target["id"],
        "input": "x",
        "assistantOverrides": {"variableValues": nested(60)},
    }
    assert served.client.post("/chat", json=shallow).status_code == 200


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/chat?page=100000000000000000", "page"),
        ("/session?page=100000000000000000", "page"),
        ("/chat?limit=100000000000000000", "limit"),
        ("/chat?page=1e400", "page"),
        ("/chat?page=-1", "page"),
        ("/session?limit=-5", "limit"),
        ("/assistant?limit=99999999999999999999999", "limit"),
        ("/chat?createdAtGt=9999-12-31T23:59:59-14:00", "createdAtGt"),
        ("/session?updatedAtLt=0001-01-01T00:00:00%2B14:00", "updatedAtLt"),
    ],
)
def test_numbers_out_of_range_are_refused(served: Served, path: str, field: str) -> None:
    refused(served.client.get(path), 400, field)


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("GET", "/chat/abc%00def", None, "path"),
        ("GET", "/assistant/%00", None, "path"),
        ("DELETE", "/session/x%00", None, "path"),
        ("GET", "/chat?assistantId=a%00b", None, "assistantId"),
        ("GET", "/session?name=%00", None, "name"),
        ("POST", "/assistant", {"name": "a\u0000b", "model": {"provider": "openai", "model": "m"}}, "name"),
        ("POST", "/tool", {"type": "function", "function": {"name": "f\u0000"}}, "function.name"),
        ("POST", "/chat/responses", {"input": "x\u0000", "model": "m", "stream": False}, "input"),
    ],
)
def test_nul_characters_are_refused(
    served: Served, method: str, path: str, body: dict[str, Any] | None, field: str
) -> None:
    response = served.client.request(method, path, json=body)
    refused(response, 400, field, "NUL")


def test_session_name_with_nul_is_refused_in_create_and_patch(served: Served) -> None:
    target = assistant(served)
    refused(served.client.post("/session", json={"assistantId": target["id"], "name": "\u0000"}), 400, "name")
    session = served.client.post("/session", json={"assistantId": target["id"]}).json()
    patch = served.client.patch(f"/session/{session['id']}", json={"name": "n\u0000"})
    refused(patch, 400, "name", "NUL")


def test_list_filters_are_applied_or_refused(served: Served) -> None:
    target = assistant(served)
    ada = {"name": "Ada", "number": "+15550001", "email": "ada@example.com", "externalId": "c-1"}
    bob = {"name": "Bob", "number": "+15550002", "email": "bob@example.com", "externalId": "c-2"}
    mine = served.client.post("/session", json={"assistantId": target["id"], "customer": ada}).json()
    served.client.post("/session", json={"assistantId": target["id"], "customer": bob})
    for query in (
        {"customerName": "Ada"},
        {"number": "+15550001"},
        {"email": "ada@example.com"},
        {"externalId": "c-1"},
        {"customerNumberAny": "+15550001,+19999999"},
    ):
        found = served.client.get("/session", params=query).json()["results"]
        assert [session["id"] for session in found] == [mine["id"]], query
    for telephony in ("phoneNumberId", "workflowId", "sipUri", "extension", "phoneNumberIdAny"):
        refused(served.client.get("/session", params={telephony: "x"}), 400, telephony, "not supported")
    for unknown_route, unknown in (("/chat", "bogus"), ("/assistant", "name")):
        refused(served.client.get(unknown_route, params={unknown: "x"}), 400, unknown)
    no_workflow = served.client.get("/chat", params={"workflowId": "x"})  # no chat has a workflow
    assert no_workflow.status_code == 200 and no_workflow.json()["results"] == [], no_workflow.text


def test_tool_ids_of_other_orgs_or_unknown_are_refused_when_saved(served: Served) -> None:
    env_key = (
        cli(served.env, "keys", "create", "--org", f"other-{time.monotonic_ns()}").strip().splitlines()[-1]
    )
    with httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {env_key}"}) as other:
        foreign = other.post("/tool", json={"type": "function", "function": {"name": "theirs"}}).json()
    own = served.client.post("/tool", json={"type": "function", "function": {"name": "mine"}}).json()
    body = {"model": {"provider": "openai", "model": "m", "toolIds": [own["id"], foreign["id"]]}}
    refused(served.client.post("/assistant", json=body), 400, "model.toolIds[1]", "not found")
    created = assistant(served)
    patch = {"model": {"provider": "openai", "model": "m", "toolIds": ["missing"]}}
    refused(served.client.patch(f"/assistant/{created['id']}", json=patch), 400, "model.toolIds[0]")


def test_ipv6_loopback_is_a_local_address(served: Served) -> None:
    body = {"model": {"provider": "custom-llm", "model": "m", "url": "http://[::1]:9/v1"}}
    response = served.client.post("/chat", json={"assistant": body, "input": "hi"})
    assert response.status_code == 502, response.text
    assert "not a unicast" not in response.text
