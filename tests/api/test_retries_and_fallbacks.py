"""Retries (429/5xx/connection, with Retry-After), fallback models, and no retry after the first token."""

from __future__ import annotations

import time

from chatloom.testing.fake_llm import FakeLLM, FakeReply
from tests.support.client import Api


def models_called(fake: FakeLLM) -> list[str]:
    return [request.json["model"] for request in fake.requests]


def test_server_errors_and_rate_limits_are_retried(api: Api, fake_llm: FakeLLM) -> None:
    assistant = api.create_assistant()
    fake_llm.push(FakeReply(status=500), FakeReply(status=429, headers={"Retry-After": "0.3"}))
    started = time.monotonic()
    chat = api.chat(assistantId=assistant["id"], input="persist")
    assert time.monotonic() - started >= 0.3, "Retry-After is honoured"
    assert chat["output"][0]["content"] == "You said: persist"
    assert len(fake_llm.requests) == 3
    assert api.get("/chat").json()["metadata"]["totalItems"] == 1


def test_fallback_model_answers_when_the_primary_keeps_failing(api: Api, fake_llm: FakeLLM) -> None:
    assistant = api.create_assistant(
        model={"provider": "openai", "model": "gpt-4o-mini", "fallbackModels": ["gpt-4o", "gpt-4.1"]}
    )
    fake_llm.push(*[FakeReply(status=503)] * 3, FakeReply(text="from the fallback", model="gpt-4o"))
    chat = api.chat(assistantId=assistant["id"], input="x")
    assert chat["output"][0]["content"] == "from the fallback"
    assert models_called(fake_llm) == ["gpt-4o-mini"] * 3 + ["gpt-4o"]
    assert [c["model"]["model"] for c in chat["costs"]] == ["gpt-4o"]
    assert chat["cost"] > 0, "the fallback model's price applies"


def test_a_refused_request_falls_back_without_retrying(api: Api, fake_llm: FakeLLM) -> None:
    assistant = api.create_assistant(
        model={"provider": "openai", "model": "gpt-retired", "fallbackModels": ["gpt-4o-mini"]}
    )
    fake_llm.push(
        FakeReply(status=404, error_body={"error": {"message": "model gpt-retired does not exist"}})
    )
    chat = api.chat(assistantId=assistant["id"], input="x")
    assert models_called(fake_llm) == ["gpt-retired", "gpt-4o-mini"]
    assert chat["costs"][0]["model"]["model"] == "gpt-4o-mini"


def test_all_models_failing_reports_the_last_error(api: Api, fake_llm: FakeLLM) -> None:
    assistant = api.create_assistant(model={"provider": "openai", "model": "a", "fallbackModels": ["b"]})
    fake_llm.push(*[FakeReply(status=500)] * 6)
    response = api.post("/chat", {"assistantId": assistant["id"], "input": "x"})
    assert response.status_code == 502
    assert models_called(fake_llm) == ["a"] * 3 + ["b"] * 3


def test_streams_retry_only_before_the_first_token(api: Api, fake_llm: FakeLLM) -> None:
    assistant = api.create_assistant()
    fake_llm.push(FakeReply(status=502))
    frames = list(api.stream({"assistantId": assistant["id"], "input": "again"}))
    assert "".join(f["delta"] for f in frames[:-1]) == "You said: again"
    assert len(fake_llm.requests) == 2

    fake_llm.reset()
    fake_llm.push(FakeReply(text="a b c", chunks=["a ", "b ", "c"], cut_after_chunks=1))
    frames = list(api.stream({"assistantId": assistant["id"], "input": "cut"}))
    assert frames[0]["delta"] == "a " and "error" in frames[-2]
    assert len(fake_llm.requests) == 1, "never retried once a token reached the client"


def test_timeouts_are_not_retried(api: Api, fake_llm: FakeLLM) -> None:
    assistant = api.create_assistant(
        model={"provider": "custom-llm", "model": "slow", "url": fake_llm.root_url, "timeoutSeconds": 0.2}
    )
    fake_llm.push(FakeReply(text="late", delay_seconds=1))
    assert api.post("/chat", {"assistantId": assistant["id"], "input": "x"}).status_code == 504
    assert len(fake_llm.requests) == 1
