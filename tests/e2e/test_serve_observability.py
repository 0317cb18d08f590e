"""End to end: `chatloom serve --workers 2` logs JSON access lines and sums its workers' metrics."""

from __future__ import annotations

import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from chatloom.testing.fake_llm import FakeLLM, FakeReply
from tests.e2e.test_serve import CHATLOOM, cli
from tests.support.metrics import scrape, value
from tests.support.server import free_port, wait_for_health

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


def access_lines(log_path: Path) -> list[dict[str, Any]]:
    lines = [orjson.loads(line) for line in log_path.read_bytes().splitlines() if line.startswith(b"{")]
    return [line for line in lines if line["logger"] == "chatloom.access" and line.get("route") == "/chat"]


def access_pids(log_path: Path) -> set[int]:
    return {line["pid"] for line in access_lines(log_path)}


def test_two_workers_add_up_and_log_json(
    environment: dict[str, str], fake_llm: FakeLLM, tmp_path: Path
) -> None:
    if environment["CHATLOOM_DATABASE_URL"].startswith("sqlite"):
        pytest.skip("several worker processes share PostgreSQL (SQLite deployments are one process)")
    key = (
        cli(environment, "keys", "create", "--org", f"obs-e2e-{time.monotonic_ns()}").strip().splitlines()[-1]
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [CHATLOOM, "serve", "--port", str(port), "--workers", "2"],
            env=environment,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_health(process, url, log_path.read_text, timeout=60)

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
                if len(access_pids(log_path)) == 2:
                    break
            for _ in range(4):  # whichever worker answers the scrape, it counts every worker's turns
                samples = scrape(url, TOKEN)
                assert value(samples, "chatloom_turns_total", outcome="completed", model="m") == sent
                assert value(samples, "chatloom_http_requests_total", route="/chat", status="200") == sent
        finally:
            process.terminate()
            process.wait(timeout=30)

    access = access_lines(log_path)
    assert len(access) == sent
    assert all(line["request_id"] and line["status"] == 200 and line["org_id"] for line in access)
    assert len({line["pid"] for line in access}) == 2, "both workers served chats"
    text = log_path.read_text()
    assert key not in text and "hello 3" not in text and TOKEN not in text
    assert "alembic" not in text or "Running upgrade" in text
