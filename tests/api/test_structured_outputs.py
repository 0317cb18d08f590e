"""`/structured-output`: CRUD, what a definition must be to be saved, and `/structured-output/run` previews,
on every backend."""

from __future__ import annotations

from typing import Any

import pytest

from chatloom.testing.fake_llm import FakeLLM
from tests.support.client import Api

CONTACT = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "email": {"type": "string"}},
    "required": ["name"],
}


def create(api: Api, **fields: Any) -> dict[str, Any]:
    response = api.post("/structured-output", {"name": "contact", "schema": CONTACT, **fields})
    assert response.status_code == 201, response.text
    return dict(response.json())


def refused(api: Api, body: dict[str, Any], field: str, path: str = "/structured-output") -> str:
    response = api.post(path, body)
    assert response.status_code == 400, response.text
    message = str(response.json()["message"])
    assert field in message, message
    return message


def test_crud_round_trip_is_org_scoped(api: Api, server: Any) -> None:
    output = create(api, description="Who wrote in")
    assert output["type"] == "ai" and output["name"] == "contact" and output["schema"] == CONTACT
    assert output["orgId"] and output["createdAt"] and output["description"] == "Who wrote in"
    assert api.get(f"/structured-output/{output['id']}").json() == output

    page = api.get("/structured-output", params={"limit": 10}).json()
    assert [item["id"] for item in page["results"]] == [output["id"]]
    assert page["metadata"]["totalItems"] == 1 and page["metadata"]["itemsPerPage"] == 10
    assert api.get("/structured-output", params={"name": "nope"}).json()["results"] == []

    patched = api.patch(f"/structured-output/{output['id']}", {"description": "Lead"})
    assert patched.status_code == 200 and patched.json()["description"] == "Lead"

    other = Api(api.base_url, server.create_key("org-other-outputs"))
    try:
        assert other.get(f"/structured-output/{output['id']}").status_code == 404
        assert other.get("/structured-output").json()["results"] == []
    finally:
        other.close()

    assert api.delete(f"/structured-output/{output['id']}").status_code == 200
    assert api.get(f"/structured-output/{output['id']}").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x" * 41, "schema": CONTACT}, "name"),
        ({"name": "a", "schema": {"type": "nonsense"}}, "schema"),
        ({"name": "a"}, "schema"),
        (
            {"name": "a", "schema": CONTACT, "conditions": [{"type": "minCallDuration", "seconds": 3}]},
            "minCall",
        ),
        (
            {
                "name": "a",
                "schema": CONTACT,
                "conditions": [{"type": "endedReason", "operator": "oneOf", "values": ["x"]}],
            },
            "endedReason",
        ),
        ({"name": "a", "schema": CONTACT, "workflowIds": ["w"]}, "workflowIds"),
        ({"name": "a", "schema": CONTACT, "surprise": 1}, "surprise"),
        ({"name": "a", "schema": {"type": "string"}, "type": "regex"}, "regex"),
        ({"name": "a", "schema": {"type": "string"}, "type": "regex", "regex": "(a)\\1"}, "regex"),
        ({"name": "a", "schema": {"type": "string"}, "type": "regex", "regex": "(?=a)"}, "regex"),
        (
            {
                "name": "a",
                "schema": CONTACT,
                "model": {
                    "provider": "openai",
                    "model": "gpt-4.1",
                    "messages": [{"role": "system", "content": "hi"}],
                },
            },
            "transcript",
        ),
        ({"name": "a", "schema": CONTACT, "assistantIds": ["no-such-assistant"]}, "assistantIds[0]"),
    ],
)
def test_what_cannot_be_saved_is_a_400_naming_it(api: Api, body: dict[str, Any], field: str) -> None:
    refused(api, body, field)


def test_schema_limits_are_bounded(api: Api) -> None:
    deep: dict[str, Any] = {"type": "string"}
    for _ in range(40):
        deep = {"type": "array", "items": deep}
    assert "deeper" in refused(api, {"name": "deep", "schema": deep}, "schema")
    wide = {
        "type": "object",
        "properties": {f"p{i}": {"type": "string", "description": "x" * 100} for i in range(800)},
    }
    assert "larger" in refused(api, {"name": "wide", "schema": wide}, "schema")


def test_changing_the_top_level_type_needs_schema_override(api: Api) -> None:
    output = create(api)
    path = f"/structured-output/{output['id']}"
    response = api.patch(path, {"schema": {"type": "boolean"}})
    assert response.status_code == 400 and "schemaOverride" in str(response.json()["message"])
    same_type = api.patch(path, {"schema": {**CONTACT, "required": ["name", "email"]}})
    assert same_type.status_code == 200
    changed = api.patch(path, {"schema": {"type": "boolean"}}, params={"schemaOverride": "true"})
    assert changed.status_code == 200 and changed.json()["schema"] == {"type": "boolean"}


def test_conditions_null_clears_the_gate(api: Api) -> None:
    output = create(api, conditions=[{"type": "minMessages", "count": 4}])
    assert output["conditions"] == [{"type": "minMessages", "count": 4}]
    cleared = api.patch(f"/structured-output/{output['id']}", {"conditions": None}).json()
    assert "conditions" not in cleared


def test_assistants_name_only_outputs_that_exist_and_refuse_analysis_plan(api: Api) -> None:
    response = api.post(
        "/assistant",
        {
            "model": {"provider": "openai", "model": "gpt-4o-mini"},
            "artifactPlan": {"structuredOutputIds": ["x"]},
        },
    )
    assert response.status_code == 400
    assert "artifactPlan.structuredOutputIds[0]" in str(response.json()["message"])
    response = api.post(
        "/assistant",
        {"model": {"provider": "openai", "model": "gpt-4o-mini"}, "analysisPlan": {"summaryPlan": {}}},
    )
    assert response.status_code == 400 and "structured outputs" in str(response.json()["message"])
    output = create(api)
    assistant = api.create_assistant(
        artifactPlan={"structuredOutputIds": [output["id"]], "recordingEnabled": False}
    )
    assert assistant["artifactPlan"] == {"structuredOutputIds": [output["id"]], "recordingEnabled": False}


def session_with_messages(api: Api, assistant_id: str, *texts: str) -> dict[str, Any]:
    messages = []
    for index, text in enumerate(texts):
        messages.append({"role": "user" if index % 2 == 0 else "assistant", "content": text})
    response = api.post("/session", {"assistantId": assistant_id, "messages": messages})
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_preview_on_a_session_returns_the_result_without_saving(api: Api) -> None:
    output = create(api)
    assistant = api.create_assistant()
    session = session_with_messages(
        api, assistant["id"], "Hello, my name is Ada", "Hi Ada", "email: ada@example.com"
    )
    response = api.post(
        "/structured-output/run",
        {"structuredOutputId": output["id"], "sessionIds": [session["id"]], "previewEnabled": True},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        output["id"]: {"name": "contact", "result": {"name": "Ada", "email": "ada@example.com"}}
    }
    assert "artifact" not in api.get(f"/session/{session['id']}").json()


def test_preview_of_a_regex_output_on_a_chat(api: Api) -> None:
    assistant = api.create_assistant()
    chat = api.chat(assistantId=assistant["id"], input="my order is ORDER-1234 and ORDER-99")
    inline = {"name": "orders", "type": "regex", "regex": "/order-(\\d+)/i", "schema": {"type": "array"}}
    response = api.post(
        "/structured-output/run",
        {"structuredOutput": inline, "chatIds": [chat["id"]], "previewEnabled": True},
    )
    assert response.status_code == 200, response.text
    [result] = response.json().values()
    # The user's message and the assistant's echo of it ("You said: ...") both mention the orders.
    assert result == {"name": "orders", "result": ["1234", "99", "1234", "99"]}


def test_a_catastrophic_pattern_answers_at_once(api: Api) -> None:
    assistant = api.create_assistant()
    chat = api.chat(assistantId=assistant["id"], input="a" * 20_000 + "b")
    inline = {"name": "evil", "type": "regex", "regex": "^(a+)+$", "schema": {"type": "boolean"}}
    response = api.post(
        "/structured-output/run",
        {"structuredOutput": inline, "chatIds": [chat["id"]], "previewEnabled": True},
    )
    assert response.status_code == 200 and next(iter(response.json().values()))["result"] is False


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"structuredOutputId": "x", "callIds": ["c"], "sessionIds": ["s"]}, "callIds"),
        ({"sessionIds": ["s"]}, "structuredOutputId"),
        ({"structuredOutputId": "x"}, "sessionIds"),
        ({"structuredOutputId": "x", "sessionIds": ["a", "b"], "previewEnabled": True}, "exactly one"),
        ({"structuredOutputId": "x", "chatIds": ["c"]}, "chatIds"),
    ],
)
def test_run_refuses_what_it_cannot_do(api: Api, body: dict[str, Any], field: str) -> None:
    refused(api, body, field, path="/structured-output/run")


def test_run_on_unknown_targets_is_a_404_or_a_400_naming_them(api: Api) -> None:
    output = create(api)
    preview = api.post(
        "/structured-output/run",
        {"structuredOutputId": output["id"], "sessionIds": ["nope"], "previewEnabled": True},
    )
    assert preview.status_code == 404
    queued = api.post("/structured-output/run", {"structuredOutputId": output["id"], "sessionIds": ["nope"]})
    assert queued.status_code == 400 and "sessionIds[0]" in str(queued.json()["message"])


def test_a_custom_prompt_renders_the_conversation_and_the_definition(api: Api, fake_llm: FakeLLM) -> None:
    assistant = api.create_assistant(
        model={
            "provider": "openai",
            "model": "gpt-4o-mini",
            "messages": [{"role": "system", "content": "You sell garden tools."}],
        }
    )
    chat = api.chat(assistantId=assistant["id"], input="name: Ada")
    prompt = [
        {
            "role": "system",
            "content": "Fill {{ structuredOutput.name }} ({{ structuredOutput.schema }}). "
            "The assistant was told: {{ systemPrompt }}",
        },
        {"role": "user", "content": "{{ transcript }}"},
    ]
    inline = {
        "name": "contact",
        "schema": CONTACT,
        "model": {"provider": "openai", "model": "gpt-4.1", "messages": prompt},
    }
    before = len(fake_llm.requests)
    response = api.post(
        "/structured-output/run",
        {"structuredOutput": inline, "chatIds": [chat["id"]], "previewEnabled": True},
    )
    assert response.status_code == 200, response.text
    assert next(iter(response.json().values()))["result"] == {"name": "Ada"}
    [sent] = [request.json for request in fake_llm.requests[before:]]
    assert sent["model"] == "gpt-4.1" and sent["response_format"]["type"] == "json_schema"
    system, user = sent["messages"]
    assert system["content"].startswith('Fill contact ({"type":"object"')
    assert system["content"].endswith("The assistant was told: You sell garden tools.")
    assert user["content"] == "User: name: Ada\nAI: You said: name: Ada"
