"""`/chat/responses` as OpenAI clients use it: no assistant (the model answers directly), `stream`
negotiated by `Accept`, `store: false`, `metadata` kept, structured output."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest
from pydantic import BaseModel

from chatloom.testing.fake_llm import FakeLLM, FakeReply
from tests.support.client import Api, client_for

CITY = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "temp_c": {"type": "number"}},
    "required": ["city", "temp_c"],
    "additionalProperties": False,
}


def test_no_assistant_model_and_instructions(api: Api, fake_llm: FakeLLM) -> None:
    client = client_for(api)
    response = client.responses.create(model="gpt-4o-mini", input="hi", instructions="Be brief.")
    assert response.output_text == "You said: hi" and response.model == "gpt-4o-mini"
    sent = fake_llm.requests[-1]
    assert sent.path.endswith("/chat/completions") and sent.json["model"] == "gpt-4o-mini"
    assert sent.json["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
    ]
    chat = api.get(f"/chat/{response.id}").json()
    assert chat["assistant"] == {"model": {"provider": "openai", "model": "gpt-4o-mini"}}
    assert chat["cost"] > 0 and response.id in [c["id"] for c in api.get("/chat").json()["results"]]

    follow = client.responses.create(model="ignored", input="again", previous_response_id=response.id)
    assert follow.output_text == "You said: again" and follow.model == "gpt-4o-mini"

    anthropic = client.responses.create(model="anthropic/claude-sonnet-4-5", input="hi")
    assert anthropic.output_text == "You said: hi" and "/messages" in fake_llm.requests[-1].path

    with pytest.raises(openai.BadRequestError) as unknown:
        client.responses.create(model="no-such-model-anywhere", input="hi")
    assert unknown.value.param == "model" and "no-such-model-anywhere" in unknown.value.message
    missing = api.post("/chat/responses", {"input": "hi", "stream": False})
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "model"


def test_stream_negotiated_by_accept(api: Api) -> None:
    url, auth = f"{api.base_url}/chat/responses", {"Authorization": f"Bearer {api.key}"}
    body = {"model": "gpt-4o-mini", "input": "hi"}

    def kind(accept: str | None, **extra: Any) -> str:
        headers = {**auth, **({"Accept": accept} if accept is not None else {})}
        answer = httpx.post(url, json={**body, **extra}, headers=headers)
        assert answer.status_code == 200, answer.text
        return answer.headers["content-type"].split(";")[0]

    assert kind("application/json") == "application/json"
    assert kind("text/event-stream") == "text/event-stream"
    assert kind("*/*") == "text/event-stream"  # Vapi's default
    assert kind("text/event-stream;q=0.5, application/json") == "application/json"
    assert kind("application/json", stream=True) == "text/event-stream"  # explicit wins
    assert kind("text/event-stream", stream=False) == "application/json"
    # The OpenAI SDK sends no `stream` for a plain create: one JSON response.
    assert client_for(api).responses.create(model="gpt-4o-mini", input="hi").output_text == "You said: hi"


def test_store_false_keeps_nothing(api: Api) -> None:
    client = client_for(api)
    before = len(api.get("/chat").json()["results"])
    response = client.responses.create(model="gpt-4o-mini", input="secret", store=False)
    assert response.output_text == "You said: secret" and response.usage is not None
    assert response.model_extra is not None and response.model_extra["store"] is False
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)
    assert api.get(f"/chat/{response.id}").status_code == 404
    assert len(api.get("/chat").json()["results"]) == before
    with pytest.raises(openai.BadRequestError) as continued:
        client.responses.create(model="gpt-4o-mini", input="more", previous_response_id=response.id)
    assert continued.value.param == "previous_response_id"

    with client.responses.stream(model="gpt-4o-mini", input="streamed", store=False) as stream:
        final = stream.get_final_response()
    assert final.output_text == "You said: streamed"
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(final.id)
    resumed = api.get(f"/chat/responses/{final.id}", params={"stream": "true"})
    assert resumed.status_code == 404


def test_metadata_is_kept_with_the_stored_response(api: Api) -> None:
    client = client_for(api)
    response = client.responses.create(model="gpt-4o-mini", input="hi", metadata={"ticket": "42"})
    assert response.metadata == {"ticket": "42"}
    stored = client.responses.retrieve(response.id)
    assert stored.metadata == {"ticket": "42"}
    assert api.get(f"/chat/{response.id}").json()["metadata"] == {"ticket": "42"}


class City(BaseModel):
    city: str
    temp_c: float


def test_structured_output_json_schema(api: Api, fake_llm: FakeLLM) -> None:
    client = client_for(api)
    fake_llm.push(FakeReply(text='{"city": "Oslo", "temp_c": 7}'))
    response = client.responses.create(
        model="gpt-4o-mini",
        input="Weather in Oslo?",
        text={"format": {"type": "json_schema", "name": "city", "schema": CITY, "strict": True}},
    )
    assert json.loads(response.output_text) == {"city": "Oslo", "temp_c": 7}
    assert response.text is not None and response.text.format.type == "json_schema"
    assert fake_llm.requests[-1].json["response_format"]["type"] == "json_schema"

    parsed = client.responses.parse(model="gpt-4o-mini", input="Weather?", text_format=City)
    assert isinstance(parsed.output_parsed, City)  # the fake answers schema-valid JSON

    fake_llm.push(FakeReply(text='{"city": "Oslo"}'))
    with pytest.raises(openai.InternalServerError) as invalid:
        client.responses.create(
            model="gpt-4o-mini",
            input="Weather?",
            text={"format": {"type": "json_schema", "name": "city", "schema": CITY}},
        )
    assert "temp_c" in invalid.value.message and "text.format" in invalid.value.message

    fake_llm.push(FakeReply(text="not json"))
    with pytest.raises(openai.InternalServerError):
        client.responses.create(model="gpt-4o-mini", input="x", text={"format": {"type": "json_object"}})
    fake_llm.push(FakeReply(text='{"ok": true}'))
    done = client.responses.create(model="gpt-4o-mini", input="x", text={"format": {"type": "json_object"}})
    assert json.loads(done.output_text) == {"ok": True}
