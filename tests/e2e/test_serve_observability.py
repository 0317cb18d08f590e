"""End to end: `chatloom serve --workers 2` logs JSON access lines and sums its workers' metrics."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import orjson
import pytest

from chatloom.testing.fake_llm import FakeLLM, FakeReply
from tests.support.metrics import scrape, value
from tests.support.serve import ServeProcesses, cli

TOKEN = "e2e-metrics-token"
CHATS = 16


@pytest.fixture
def environment(backend: str, fake_llm: FakeLLM) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(
        CHATLOOM_DATABASE_URL=backend,
        CHATLOOM_LOG_FORMAT="json",
        CHATLOOM_METRICS_TOKEN=TOKEN,
        OPENAI_API_KEY="sk-e2e-observability",
        OPENAI_BASE_URL=fake_llm.base_url,
    )
    return env


def access_lines(log: str) -> list[dict[str, Any]]:
    lines = [orjson.loads(line) for line in log.splitlines() if line.startswith("{")]
    return [line for line in lines if line["logger"] == "chatloom.access" and line.get("route") == "/chat"]


def access_pids(log: str) -> set[int]:
    return {line["pid"] for line in access_lines(log)}


def test_two_workers_add_up_and_log_json(
    environment: dict[str, str], fake_llm: FakeLLM, servers: ServeProcesses
) -> None:
    if environment["CHATLOOM_DATABASE_URL"].startswith("sqlite"):
        pytest.skip("several worker processes share PostgreSQL (SQLite deployments are one process)")
    key = (
        cli(environment, "keys", "create", "--org", f"obs-e2e-{time.monotonic_ns()}").strip().splitlines()[-1]
    )
    server = servers.start(environment, workers=2, health_timeout=60)
    url = server.url

    def one_chat(index: int) -> int:
        body = {
            "input": f"hello {index}",
            "assistant": {"model": {"provider": "openai", "model": "m"}},
        }
        headers = {"Authorization": f"Bearer {key}"}
        return httpx.post(f"{url}/chat", json=body, headers=headers, timeout=30).status_code

    # Slow answers keep connections open at once, so both workers take some (the kernel picks).
    sent = 0
    for _ in range(10):
        fake_llm.push(*(FakeReply(text=f"hi {i}", delay_seconds=0.3) for i in range(CHATS)))
        with ThreadPoolExecutor(CHATS) as pool:
            assert list(pool.map(one_chat, range(CHATS))) == [200] * CHATS
        sent += CHATS
        if len(access_pids(server.output())) == 2:
            break
    for _ in range(4):  # whichever worker answers the scrape, it counts every worker's turns
        samples = scrape(url, TOKEN)
        assert value(samples, "chatloom_turns_total", outcome="completed", model="m") == sent
        assert value(samples, "chatloom_http_requests_total", route="/chat", status="200") == sent
    server.stop()  # every worker has written its last line

    text = server.output()
    access = access_lines(text)
    assert len(access) == sent
    assert all(line["request_id"] and line["status"] == 200 and line["org_id"] for line in access)
    assert len({line["pid"] for line in access}) == 2, "both workers served chats"
    assert key not in text and "hello 3" not in text and TOKEN not in text
    assert "alembic" not in text or "Running upgrade" in text
