"""End to end: `kill -9` of the server while a completed session's structured outputs are being extracted;
the extraction is recorded in the database, so it still happens, once, after a restart."""

from __future__ import annotations

import os
import time

import httpx
import pytest

from chatloom.testing.fake_llm import FakeLLM, FakeReply
from tests.e2e.test_crash import create_key, wait_for_model_requests
from tests.support.serve import ServeProcesses

pytestmark = pytest.mark.e2e

JOB_LEASE_SECONDS = 2.0
LEAD = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}


def extraction_requests(fake: FakeLLM) -> int:
    return sum(1 for request in fake.requests if "response_format" in request.json)


def test_extraction_survives_kill_9_and_runs_once(
    fresh_database: str, fake_llm: FakeLLM, servers: ServeProcesses
) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    environment.update(
        CHATLOOM_DATABASE_URL=fresh_database,
        CHATLOOM_JOB_LEASE_SECONDS=str(JOB_LEASE_SECONDS),
        CHATLOOM_LOG_LEVEL="warning",
        OPENAI_API_KEY="sk-e2e",
        OPENAI_BASE_URL=fake_llm.base_url,
    )
    key = create_key(fresh_database)
    victim = servers.start(environment)
    with httpx.Client(base_url=victim.url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
        output = client.post("/structured-output", json={"name": "lead", "schema": LEAD}).json()
        assistant = client.post(
            "/assistant",
            json={
                "model": {"provider": "openai", "model": "gpt-4o-mini"},
                "artifactPlan": {"structuredOutputIds": [output["id"]]},
            },
        ).json()
        session = client.post("/session", json={"assistantId": assistant["id"]}).json()
        assert (
            client.post("/chat", json={"sessionId": session["id"], "input": "name: Ada"}).status_code == 200
        )
        seen = len(fake_llm.requests)
        # The extraction's model call hangs: the process dies with it in flight.
        fake_llm.push(FakeReply(text='{"name": "never saved"}', delay_seconds=60))
        completed = client.patch(f"/session/{session['id']}", json={"status": "completed"})
        assert completed.status_code == 200 and completed.json()["status"] == "completed"
        wait_for_model_requests(fake_llm, seen + 1)
    victim.kill()

    restarted = servers.start(environment)
    deadline = time.monotonic() + JOB_LEASE_SECONDS + 20
    with httpx.Client(base_url=restarted.url, headers={"Authorization": f"Bearer {key}"}) as client:
        while "artifact" not in (stored := client.get(f"/session/{session['id']}").json()):
            assert time.monotonic() < deadline, "the extraction never happened after the restart"
            time.sleep(0.1)
        assert stored["artifact"]["structuredOutputs"] == {
            output["id"]: {"name": "lead", "result": {"name": "Ada"}}
        }
        assert extraction_requests(fake_llm) == 2  # the one the kill cut off, and the one that finished
        # Done means done: another process on the same database does not run it again.
        again = servers.start(environment)
        time.sleep(JOB_LEASE_SECONDS + 1)
        assert extraction_requests(fake_llm) == 2
        assert client.get(f"/session/{session['id']}").json()["artifact"] == stored["artifact"]
        again.stop()
