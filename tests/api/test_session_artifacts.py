"""A session's structured outputs are extracted once it completes (PATCH, web chat's `sessionEnd`), saved
in `Session.artifact`, billed to the session and delivered in `session.updated`; on every backend."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from vapi import Vapi

from chatloom.testing.fake_llm import FakeLLM
from chatloom.testing.http_recorder import HttpRecorder
from tests.support.client import Api
from tests.support.server import ServerThread

LEAD = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "email": {"type": "string"}, "resolved": {"type": "boolean"}},
    "required": ["name", "resolved"],
}


@pytest.fixture(scope="module")
def hooks_server() -> Iterator[HttpRecorder]:
    with HttpRecorder().start() as recorder:
        yield recorder


def artifact_of(api: Api, session_id: str, seconds: float = 10.0) -> dict[str, Any]:
    """The session's artifact, once extraction has written it."""
    deadline = time.monotonic() + seconds
    while True:
        session = api.get(f"/session/{session_id}").json()
        if "artifact" in session:
            return dict(session["artifact"])
        assert time.monotonic() < deadline, f"no artifact on {session}"
        time.sleep(0.05)


def test_vapi_sdk_three_turn_session_completed_gets_its_outputs(api: Api, fake_llm: FakeLLM) -> None:
    client = Vapi(token=api.key, base_url=api.base_url)
    lead = client.structured_outputs.structured_output_controller_create(name="lead", schema=LEAD)
    gated = client.structured_outputs.structured_output_controller_create(
        name="long talk",
        schema={"type": "string"},
        request_options={
            "additional_body_parameters": {"conditions": [{"type": "minMessages", "count": 50}]}
        },
    )
    failing = client.structured_outputs.structured_output_controller_create(
        name="broken", schema={"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}
    )
    assistant = client.assistants.create(
        name="Sales",
        model={"provider": "openai", "model": "gpt-4o-mini"},
        artifact_plan={"structured_output_ids": [lead.id, gated.id]},
    )
    session = client.sessions.create(assistant_id=assistant.id)
    for text in ("Hi, my name is Ada", "email: ada@example.com", "resolved: yes, thanks"):
        client.chats.create(session_id=session.id, input=text)
    assert api.get(f"/session/{session.id}").json().get("artifact") is None
    completed = client.sessions.update(session.id, status="completed")
    assert completed.status == "completed"

    artifact = artifact_of(api, session.id)
    assert artifact["structuredOutputs"] == {
        lead.id: {"name": "lead", "result": {"name": "Ada", "email": "ada@example.com", "resolved": True}}
    }
    assert artifact["skippedStructuredOutputs"] == {
        gated.id: {"name": "long talk", "unmetCondition": {"type": "minMessages", "count": 50}}
    }
    assert artifact["structuredOutputsLastUpdatedAt"]
    stored = client.sessions.get(session.id)
    assert stored.artifact is not None and stored.artifact.structured_outputs[lead.id]["name"] == "lead"
    extraction = [r for r in fake_llm.requests if "response_format" in r.json]
    assert len(extraction) == 1 and extraction[0].json["response_format"]["type"] == "json_schema"
    costs = api.get(f"/session/{session.id}").json()["costs"]
    assert sum(cost["promptTokens"] for cost in costs) > 0

    # An invalid answer: retried once with the error, then `result: null`.
    client.assistants.update(assistant.id, artifact_plan={"structured_output_ids": [failing.id]})
    second = client.sessions.create(assistant_id=assistant.id)
    client.chats.create(session_id=second.id, input="please answer [invalid json]")
    before = len(fake_llm.requests)
    client.sessions.update(second.id, status="completed")
    artifact = artifact_of(api, second.id)
    assert artifact["structuredOutputs"] == {failing.id: {"name": "broken", "result": None}}
    retried = [r.json for r in fake_llm.requests[before:] if "response_format" in r.json]
    assert len(retried) == 2 and "not valid" in retried[1]["messages"][-1]["content"]


def test_inline_outputs_and_outputs_linked_to_the_assistant(api: Api) -> None:
    assistant = api.create_assistant(
        artifactPlan={
            "structuredOutputs": [
                {"name": "orders", "type": "regex", "regex": "ORDER-\\d+", "schema": {"type": "array"}}
            ]
        }
    )
    linked = api.post(
        "/structured-output",
        {
            "name": "mood",
            "schema": {"type": "string", "enum": ["calm", "angry"]},
            "assistantIds": [assistant["id"]],
        },
    ).json()
    session = api.post("/session", {"assistantId": assistant["id"]}).json()
    api.chat(sessionId=session["id"], input="where is ORDER-7?")
    api.patch(f"/session/{session['id']}", {"status": "completed"})
    results = artifact_of(api, session["id"])["structuredOutputs"]
    assert results[linked["id"]] == {"name": "mood", "result": "calm"}
    [inline_id] = [key for key in results if key != linked["id"]]
    assert results[inline_id] == {"name": "orders", "result": ["ORDER-7", "ORDER-7"]}


def test_completing_twice_or_a_session_without_outputs_extracts_nothing_more(
    api: Api, fake_llm: FakeLLM
) -> None:
    plain = api.create_assistant()
    session = api.post("/session", {"assistantId": plain["id"]}).json()
    api.chat(sessionId=session["id"], input="hi")
    before = len(fake_llm.requests)
    api.patch(f"/session/{session['id']}", {"status": "completed"})
    api.patch(f"/session/{session['id']}", {"status": "completed"})
    time.sleep(0.3)
    assert len(fake_llm.requests) == before
    assert "artifact" not in api.get(f"/session/{session['id']}").json()


def test_web_chat_session_end_extracts_and_tells_the_assistants_server(
    server: ServerThread, api: Api, hooks_server: HttpRecorder
) -> None:
    hooks_server.reset()
    output = api.post("/structured-output", {"name": "lead", "schema": LEAD}).json()
    assistant = api.create_assistant(
        artifactPlan={"structuredOutputIds": [output["id"]]},
        server={"url": f"{hooks_server.url}/hooks"},
        serverMessages=["session.updated"],
    )
    # A private key works on web chat too (the widget's public keys: tests/api/test_web_chat.py).
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {api.key}"}, timeout=30
    ) as page:
        first = page.post("/chat/web", json={"assistantId": assistant["id"], "input": "name: Grace"}).json()
        ended = page.post(
            "/chat/web",
            json={
                "assistantId": assistant["id"],
                "sessionId": first["sessionId"],
                "input": "bye",
                "sessionEnd": True,
            },
        )
        assert ended.status_code == 200
    session_id = first["sessionId"]
    artifact = artifact_of(api, session_id)
    assert artifact["structuredOutputs"][output["id"]]["result"]["name"] == "Grace"
    updates = [call.json["message"] for call in hooks_server.wait_for(2, path="/hooks")]
    assert [message["type"] for message in updates] == ["session.updated", "session.updated"]
    final = updates[-1]["session"]
    assert final["id"] == session_id and final["status"] == "completed"
    assert final["artifact"]["structuredOutputs"][output["id"]]["result"]["name"] == "Grace"


def test_a_queued_run_rewrites_one_output_of_the_artifact(api: Api) -> None:
    output = api.post("/structured-output", {"name": "lead", "schema": LEAD}).json()
    assistant = api.create_assistant(artifactPlan={"structuredOutputIds": [output["id"]]})
    session = api.post("/session", {"assistantId": assistant["id"]}).json()
    api.chat(sessionId=session["id"], input="name: Ada")
    api.patch(f"/session/{session['id']}", {"status": "completed"})
    first = artifact_of(api, session["id"])
    assert first["structuredOutputs"][output["id"]]["result"]["name"] == "Ada"

    extra = {"name": "greeting", "type": "regex", "regex": "name: (\\w+)", "schema": {"type": "string"}}
    response = api.post("/structured-output/run", {"structuredOutput": extra, "sessionIds": [session["id"]]})
    assert response.status_code == 200 and "queued 1" in response.json()["message"]
    deadline = time.monotonic() + 10
    while len(api.get(f"/session/{session['id']}").json()["artifact"]["structuredOutputs"]) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    results = api.get(f"/session/{session['id']}").json()["artifact"]["structuredOutputs"]
    assert results[output["id"]] == first["structuredOutputs"][output["id"]]
    assert {"name": "greeting", "result": "Ada"} in results.values()
