"""GET /metrics after a mixed run, the access log, request ids on responses and on webhooks."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from chatloom.config import Settings
from chatloom.observability.logs import JsonFormatter
from chatloom.testing.fake_llm import FakeLLM, FakeReply
from chatloom.testing.http_recorder import HttpRecorder, RecordedCall, Scripted
from tests.conftest import TEST_SECRET_KEY, provider_environment
from tests.support.client import Api
from tests.support.metrics import Samples, grew, scrape, value
from tests.support.server import ServerThread

TOKEN = "scrape-token-7f3a"
PROMPT = "the secret prompt words 4411"
MODEL = "gpt-4o-mini"
WEATHER = {
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


@pytest.fixture(scope="module")
def observed(backend: str, fake_llm: FakeLLM) -> Iterator[ServerThread]:
    """A server of its own: metrics behind a token and labelled per org."""
    settings = Settings(
        database_url=backend,
        provider_env=provider_environment(fake_llm),
        llm_timeout_seconds=5,
        llm_retry_base_seconds=0.01,
        secret_key=TEST_SECRET_KEY,
        metrics_token=TOKEN,
        metrics_per_org=True,
    )
    thread = ServerThread(settings).start()
    yield thread
    thread.stop()


@pytest.fixture(scope="module")
def receiver() -> Iterator[HttpRecorder]:
    with HttpRecorder().start() as recorder:
        yield recorder


@pytest.fixture
def hooks(receiver: HttpRecorder) -> HttpRecorder:
    receiver.reset()
    receiver.on("/tools", answer_weather)
    return receiver


def answer_weather(call: RecordedCall) -> Scripted:
    results = [
        {"toolCallId": item["id"], "name": item["name"], "result": "7 degrees"}
        for item in call.json["message"]["toolCallList"]
    ]
    return Scripted(json={"results": results})


def client(server: ServerThread) -> Api:
    return Api(server.url, server.create_key(f"obs-{uuid.uuid4().hex[:10]}"))


def hooked_assistant(api: Api, hooks: HttpRecorder) -> dict[str, Any]:
    tool = {"type": "function", "function": WEATHER, "server": {"url": f"{hooks.url}/tools"}}
    return api.create_assistant(
        model={"provider": "openai", "model": MODEL, "tools": [tool]},
        serverMessages=["chat.created"],
        server={"url": f"{hooks.url}/hooks"},
    )


def test_metrics_need_the_token(observed: ServerThread) -> None:
    assert httpx.get(f"{observed.url}/metrics").status_code == 401
    wrong = httpx.get(f"{observed.url}/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and "CHATLOOM_METRICS_TOKEN" in wrong.json()["message"]
    assert scrape(observed.url, TOKEN)


def wait_for_series(url: str, name: str, at_least: float, **labels: str) -> Samples:
    deadline = time.monotonic() + 5
    while True:
        samples = scrape(url, TOKEN)
        if value(samples, name, **labels) >= at_least or time.monotonic() > deadline:
            return samples
        time.sleep(0.05)


def test_a_mixed_run_shows_every_series(
    observed: ServerThread, fake_llm: FakeLLM, hooks: HttpRecorder
) -> None:
    api = client(observed)
    assistant = hooked_assistant(api, hooks)
    before = scrape(observed.url, TOKEN)

    cached = {"prompt_tokens": 100, "completion_tokens": 10, "prompt_tokens_details": {"cached_tokens": 40}}
    fake_llm.push(FakeReply(text="Hello there", usage=cached))
    chat = api.chat(assistantId=assistant["id"], input="hi")
    org = chat["orgId"]
    events = list(api.stream({"assistantId": assistant["id"], "input": "stream please"}))
    assert events[-1] == "[DONE]"
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
    fake_llm.push(FakeReply(tool_calls=[call]), FakeReply(text="It is 7 degrees."))
    api.chat(assistantId=assistant["id"], input="weather?")
    fake_llm.push(FakeReply(status=500), FakeReply(status=500), FakeReply(status=500))
    assert api.post("/chat", {"assistantId": assistant["id"], "input": "fails"}).status_code == 502
    fake_llm.push(FakeReply(status=429, headers={"Retry-After": "0"}), FakeReply(text="after a 429"))
    api.chat(assistantId=assistant["id"], input="busy?")
    session = api.post("/session", {"assistantId": assistant["id"]}).json()
    api.chat(sessionId=session["id"], input="in a session")
    assert api.get(f"/chat/{chat['id']}").status_code == 200

    after = wait_for_series(observed.url, "chatloom_webhook_deliveries_total", 5, outcome="delivered")
    turns = {"provider": "openai", "model": MODEL, "org_id": org}
    assert (
        grew(
            before,
            after,
            "chatloom_http_requests_total",
            method="POST",
            route="/chat",
            status="200",
            org_id=org,
        )
        == 5
    )
    assert grew(before, after, "chatloom_http_requests_total", route="/chat", status="502", org_id=org) == 1
    assert grew(before, after, "chatloom_http_requests_total", route="/chat/{id}", status="200") == 1
    assert grew(before, after, "chatloom_turns_total", outcome="completed", **turns) == 5
    assert grew(before, after, "chatloom_turns_total", outcome="upstream_error", **turns) == 1
    assert grew(before, after, "chatloom_turn_server_seconds_count", **turns) == 6
    assert grew(before, after, "chatloom_turn_upstream_seconds_count", **turns) == 5
    assert grew(before, after, "chatloom_turn_first_token_seconds_count", **turns) == 5
    assert grew(before, after, "chatloom_tokens_total", kind="cached", **turns) == 40
    assert grew(before, after, "chatloom_tokens_total", kind="prompt", **turns) > 100
    assert grew(before, after, "chatloom_tokens_total", kind="completion", **turns) > 10
    assert grew(before, after, "chatloom_cost_usd_total", **turns) > 0
    errors = {"provider": "openai"}
    assert grew(before, after, "chatloom_upstream_errors_total", **errors, **{"class": "server"}) == 3
    assert grew(before, after, "chatloom_upstream_retries_total", **errors, **{"class": "server"}) == 2
    assert grew(before, after, "chatloom_upstream_errors_total", **errors, **{"class": "rate_limit"}) == 1
    assert grew(before, after, "chatloom_upstream_retries_total", **errors, **{"class": "rate_limit"}) == 1
    assert grew(before, after, "chatloom_tool_calls_total", outcome="ok") == 1
    assert grew(before, after, "chatloom_webhook_deliveries_total", outcome="delivered") == 5
    assert grew(before, after, "chatloom_session_lease_wait_seconds_count") == 1
    assert value(after, "chatloom_streams_open") == 0
    api.close()


def test_access_log_and_request_ids(
    observed: ServerThread, hooks: HttpRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    api = client(observed)
    key = api.http.headers["authorization"].split()[-1]
    assistant = hooked_assistant(api, hooks)
    response = api.post("/chat", {"assistantId": assistant["id"], "input": PROMPT})
    assert response.status_code == 200
    request_id = response.headers["x-request-id"]
    [hook] = hooks.wait_for(1, path="/hooks")
    assert hook.headers["X-Request-Id"] == request_id, "webhooks carry the id of the request that sent them"
    given = httpx.get(f"{observed.url}/chat/nope", headers={"X-Request-Id": "mine-42"})
    assert given.status_code == 401 and given.headers["x-request-id"] == "mine-42"
    assert httpx.get(f"{observed.url}/no/such/route").headers["x-request-id"]
    time.sleep(0.1)

    access = [record for record in caplog.records if record.name == "chatloom.access"]
    by_id = {record.__dict__["request_id"]: record for record in access}
    line = by_id[request_id]
    assert line.__dict__["route"] == "/chat" and line.__dict__["status"] == 200
    assert line.__dict__["org_id"] == response.json()["orgId"] and line.__dict__["method"] == "POST"
    assert by_id["mine-42"].__dict__["route"] == "/chat/{id}"
    assert by_id["mine-42"].__dict__["status"] == 401
    assert any(record.__dict__["route"] == "unmatched" for record in access)
    as_json = orjson.loads(JsonFormatter().format(line))
    assert as_json["request_id"] == request_id and as_json["status"] == 200 and as_json["route"] == "/chat"
    everything = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    assert key not in everything and PROMPT not in everything and TOKEN not in everything
    api.close()


def test_model_labels_that_clients_choose_are_bounded(backend: str, fake_llm: FakeLLM) -> None:
    settings = Settings(
        database_url=backend,
        provider_env=provider_environment(fake_llm),
        llm_timeout_seconds=5,
        secret_key=TEST_SECRET_KEY,
        metrics_max_models=3,
    )
    thread = ServerThread(settings).start()
    try:
        api = Api(thread.url, thread.create_key(f"org-{uuid.uuid4().hex[:10]}"))
        api.chat(assistant={"model": {"provider": "openai", "model": MODEL}}, input="a known model")
        for index in range(6):
            model = {"provider": "custom-llm", "model": f"card-{index:04d}", "url": fake_llm.base_url}
            fake_llm.push(FakeReply(text="ok", model=f"card-{index:04d}"))
            api.chat(assistant={"model": model}, input="hi")
        samples = scrape(thread.url)
        models = {dict(labels).get("model") for (name, labels) in samples if name == "chatloom_turns_total"}
        assert models == {MODEL, "card-0000", "card-0001", "card-0002", "other"}, models
        assert value(samples, "chatloom_turns_total", model="other") == 3
        api.close()
    finally:
        thread.stop()
