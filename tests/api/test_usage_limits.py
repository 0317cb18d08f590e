"""Usage limits per key and per org (set with `chatloom keys limit`): 429s, budgets across servers, resets."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest

from chatloom.config import Settings
from chatloom.testing.fake_llm import FakeLLM, FakeReply
from tests.conftest import TEST_SECRET_KEY, provider_environment
from tests.support.client import Api
from tests.support.clock import end_usage_windows
from tests.support.server import ServerThread

CHATLOOM = str(Path(sys.executable).with_name("chatloom"))
ASSISTANT = {"model": {"provider": "openai", "model": "gpt-4o-mini"}}
USAGE = {"prompt_tokens": 1000, "completion_tokens": 100}


def set_limits(database_url: str, *args: str) -> str:
    env = {**os.environ, "CHATLOOM_DATABASE_URL": database_url}
    result = subprocess.run(
        [CHATLOOM, "keys", "limit", *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def second(backend: str, fake_llm: FakeLLM) -> Iterator[ServerThread]:
    """A second server on the same database, standing for another process."""
    settings = Settings(
        database_url=backend,
        provider_env=provider_environment(fake_llm),
        llm_timeout_seconds=5,
        secret_key=TEST_SECRET_KEY,
    )
    thread = ServerThread(settings).start()
    yield thread
    thread.stop()


def new_key(server: ServerThread) -> tuple[Api, str]:
    api = Api(server.url, server.create_key(f"limits-{uuid.uuid4().hex[:10]}"))
    limits = api.get("/limits").json()
    return api, limits["key"]["id"]


def chat(api: Api) -> httpx.Response:
    return api.post("/chat", {"assistant": ASSISTANT, "input": "hi"})


def test_requests_per_minute_of_a_key(server: ServerThread, fake_llm: FakeLLM) -> None:
    api, key_id = new_key(server)
    set_limits(server.settings.database_url, key_id, "--requests-per-minute", "3")
    for _ in range(3):
        assert chat(api).status_code == 200
    refused = chat(api)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert "Too many requests for this API key: at most 3 per minute" in refused.json()["message"]
    sdk = openai.OpenAI(api_key=api.http.headers["authorization"].split()[-1], base_url=server.url + "/chat")
    with pytest.raises(openai.RateLimitError):
        sdk.with_options(max_retries=0).responses.create(
            model="gpt-4o-mini", input="hi", extra_body={"assistant": ASSISTANT}
        )

    limits = api.get("/limits").json()
    assert limits["key"]["limits"] == {
        "requestsPerMinute": 3,
        "tokensPerMinute": None,
        "usdPerDay": None,
        "usdPerMonth": None,
    }
    assert limits["key"]["usage"]["requestsThisMinute"] == 5
    assert limits["org"]["limits"]["requestsPerMinute"] is None
    assert set(limits["resets"]) == {"minute", "day", "month"}

    end_usage_windows(server.settings.database_url, key_id)  # the minute passes
    assert chat(api).status_code == 200
    api.close()


def test_tokens_per_minute_of_an_org(server: ServerThread, fake_llm: FakeLLM) -> None:
    org = f"tpm-{uuid.uuid4().hex[:10]}"
    api = Api(server.url, server.create_key(org))
    set_limits(server.settings.database_url, "--org", org, "--tokens-per-minute", "1500")
    fake_llm.push(FakeReply(text="one", usage=USAGE), FakeReply(text="two", usage=USAGE))
    assert chat(api).status_code == 200  # 1100 tokens
    assert chat(api).status_code == 200  # 2200: admitted while under the limit
    refused = chat(api)
    assert refused.status_code == 429 and "Too many tokens for this org" in refused.json()["message"]
    assert api.get("/limits").json()["org"]["usage"]["tokensThisMinute"] == 2200
    api.close()


def test_a_budget_never_overshoots_by_more_than_the_turns_in_flight(
    server: ServerThread, second: ServerThread, fake_llm: FakeLLM
) -> None:
    check_budget_bound(server, second, fake_llm)


def check_budget_bound(first: ServerThread, second: ServerThread, fake_llm: FakeLLM) -> None:
    """50 concurrent turns of one org, alternating between two servers, against a daily budget of ten
    turns: at most ten plus the turns in flight are served and charged, the rest refused with 429."""
    probe = Api(first.url, first.create_key(f"probe-{uuid.uuid4().hex[:10]}"))
    fake_llm.push(FakeReply(text="priced", usage=USAGE))
    cost = probe.chat(assistant=ASSISTANT, input="hi")["cost"]
    assert cost > 0
    org = f"budget-{uuid.uuid4().hex[:10]}"
    apis = [Api(first.url, first.create_key(org)), Api(second.url, second.create_key(org))]
    set_limits(first.settings.database_url, "--org", org, "--usd-per-day", repr(cost * 10))

    workers, turns = 8, 50
    fake_llm.push(*(FakeReply(text=f"turn {i}", usage=USAGE, delay_seconds=0.05) for i in range(turns)))
    with ThreadPoolExecutor(workers) as pool:  # at most `workers` turns are ever in flight
        statuses = list(pool.map(lambda i: chat(apis[i % 2]).status_code, range(turns)))
    served = statuses.count(200)
    assert statuses.count(429) == turns - served
    assert 10 <= served <= 10 + workers - 1
    spent = apis[1].get("/limits").json()["org"]["usage"]["usdToday"]
    assert spent == pytest.approx(served * cost, rel=1e-3)
    refused = chat(apis[0])
    assert refused.status_code == 429 and "daily budget of this org" in refused.json()["message"]
    assert int(refused.headers["retry-after"]) <= 86400
    for api in [probe, *apis]:
        api.close()


def test_limits_cli_refuses_nonsense(server: ServerThread) -> None:
    env = {**os.environ, "CHATLOOM_DATABASE_URL": server.settings.database_url}
    missing = subprocess.run(
        [CHATLOOM, "keys", "limit", "nope", "--requests-per-minute", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 1 and "no such key" in missing.stderr


def test_public_keys_do_not_see_limits(server: ServerThread) -> None:
    public = server.create_key(f"pub-{uuid.uuid4().hex[:10]}", public=True)
    response = httpx.get(f"{server.url}/limits", headers={"Authorization": f"Bearer {public}"})
    assert response.status_code == 401 and "public" in response.json()["message"]
