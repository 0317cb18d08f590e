"""Every refusal of `POST /chat` has Vapi's error shape and the right status; a failed turn stores nothing."""

from __future__ import annotations

import pytest

from chatloom.testing.fake_llm import FakeLLM, FakeReply
from tests.support.client import Api

UNKNOWN = "00000000-0000-0000-0000-000000000000"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"assistantId": UNKNOWN}, "input"),
        ({"assistantId": UNKNOWN, "input": ""}, "input"),
        ({"assistantId": UNKNOWN, "input": []}, "input"),
        ({"assistantId": UNKNOWN, "input": 42}, "input"),
        ({"assistantId": UNKNOWN, "input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
        ({"assistantId": UNKNOWN, "input": [{"role": "user"}]}, "input[0]"),
        ({"assistantId": UNKNOWN, "input": [{"role": "tool", "content": "x"}]}, "tool_call_id"),
        ({"assistantId": UNKNOWN, "input": "x", "name": "n" * 41}, "name"),
        ({"assistantId": 7, "input": "x"}, "assistantId"),
        ({"assistantId": UNKNOWN, "input": "x", "stream": "yes"}, "stream"),
        ({"assistantId": UNKNOWN, "input": "x", "bogus": 1}, "bogus"),
        ({"input": "x"}, "assistantId"),
        ({"assistantId": UNKNOWN, "sessionId": UNKNOWN, "input": "x"}, "sessionId"),
        ({"previousChatId": UNKNOWN, "sessionId": UNKNOWN, "input": "x"}, "previousChatId"),
        (
            {
                "assistantId": UNKNOWN,
                "assistant": {"model": {"provider": "openai", "model": "m"}},
                "input": "x",
            },
            "assistantId",
        ),
        ({"assistant": {"name": "no model"}, "input": "x"}, "assistant.model"),
        (
            {"assistant": {"model": {"provider": "openai", "model": "m", "temperature": -1}}, "input": "x"},
            "assistant.model.temperature",
        ),
        (
            {"assistantId": UNKNOWN, "input": "x", "assistantOverrides": {"variableValues": "no"}},
            "assistantOverrides.variableValues",
        ),
    ],
)
def test_bad_requests_are_400_before_any_lookup(api: Api, body: dict[str, object], field: str) -> None:
    response = api.post("/chat", body)
    assert response.status_code == 400, response.text
    payload = response.json()
    assert payload["statusCode"] == 400 and payload["error"] == "Bad Request"
    assert field in str(payload["message"]), payload


def test_unknown_ids_are_404(api: Api) -> None:
    for body in ({"assistantId": UNKNOWN, "input": "x"}, {"previousChatId": UNKNOWN, "input": "x"}):
        response = api.post("/chat", body)
        assert response.status_code == 404 and response.json()["statusCode"] == 404
    assert api.get(f"/chat/{UNKNOWN}").status_code == 404
    assert api.delete(f"/chat/{UNKNOWN}").status_code == 404


def test_provider_without_key_names_the_env_var(api: Api) -> None:
    response = api.post(
        "/chat", {"assistant": {"model": {"provider": "deepseek", "model": "deepseek-chat"}}, "input": "x"}
    )
    assert response.status_code == 400
    assert "DEEPSEEK_API_KEY" in response.json()["message"]


def test_upstream_errors_name_the_upstreams_message(api: Api, fake_llm: FakeLLM) -> None:
    assistant = api.create_assistant()
    body = {"assistantId": assistant["id"], "input": "x"}
    fake_llm.push(
        FakeReply(status=400, error_body={"error": {"message": "context too long", "type": "invalid"}})
    )
    response = api.post("/chat", body)
    assert response.status_code == 400 and "context too long" in response.json()["message"]
    assert len(fake_llm.requests) == 1, "a 4xx is not retried"
    fake_llm.push(*[FakeReply(status=500)] * 3)
    assert api.post("/chat", body).status_code == 502
    fake_llm.push(*[FakeReply(status=429, headers={"Retry-After": "0"})] * 3)
    assert api.post("/chat", body).status_code == 502, "Vapi routes report a provider's 429 as 502"
    assert len(fake_llm.requests) == 7, "429 and 5xx are retried twice"
    assert api.get("/chat").json()["metadata"]["totalItems"] == 0, "a failed turn stores no chat"


def test_upstream_timeout_is_504(api: Api, fake_llm: FakeLLM) -> None:
    assistant = api.create_assistant(
        model={"provider": "custom-llm", "model": "slow", "url": fake_llm.root_url, "timeoutSeconds": 0.3}
    )
    fake_llm.push(FakeReply(text="late", delay_seconds=1.5))
    response = api.post("/chat", {"assistantId": assistant["id"], "input": "x"})
    assert response.status_code == 504 and response.json()["statusCode"] == 504
    assert api.get("/chat").json()["metadata"]["totalItems"] == 0


def test_unreachable_upstream_is_502(api: Api) -> None:
    assistant = {"model": {"provider": "custom-llm", "model": "m", "url": "http://127.0.0.1:9"}}
    response = api.post("/chat", {"assistant": assistant, "input": "x"})
    assert response.status_code == 502


def test_oversized_body_is_413(api: Api) -> None:
    response = api.post("/assistant", {"name": "x" * 2_000_000})
    assert response.status_code == 413 and response.json()["statusCode"] == 413
    # A turn's body may carry images and files inline: its bound is CHATLOOM_MAX_TURN_BODY_BYTES.
    response = api.post("/chat", {"assistantId": UNKNOWN, "input": "x" * 38_000_000})
    assert response.status_code == 413 and "37748736" in response.json()["message"]


def test_unknown_squad_is_404_and_transport_is_refused_clearly(api: Api) -> None:
    response = api.post("/chat", {"squadId": UNKNOWN, "input": "x"})
    assert response.status_code == 404 and "Squad" in response.json()["message"]
    assistant = api.create_assistant()
    response = api.post(
        "/chat", {"assistantId": assistant["id"], "input": "x", "transport": {"type": "twilio.sms"}}
    )
    assert response.status_code == 400 and "transport" in response.json()["message"]


def test_custom_llm_urls_pass_the_outbound_guard(api: Api) -> None:
    for url in ("http://169.254.169.254/v1", "http://metadata.google.internal/v1"):
        response = api.post(
            "/chat",
            {"assistant": {"model": {"provider": "custom-llm", "model": "m", "url": url}}, "input": "x"},
        )
        assert response.status_code == 400 and "model.url" in response.json()["message"]
