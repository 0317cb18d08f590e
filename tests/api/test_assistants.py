"""`/assistant` CRUD and validation."""

from __future__ import annotations

import time

from tests.support.client import Api

VAPI_EXPORT = {
    "name": "Support",
    "model": {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": "You help {{ name }}."}],
        "temperature": 0.3,
        "maxTokens": 250,
        "emotionRecognitionEnabled": True,
    },
    "voice": {"provider": "11labs", "voiceId": "burt"},
    "transcriber": {"provider": "deepgram", "model": "nova-2"},
    "firstMessage": "Hi there!",
    "metadata": {"team": "support"},
    "serverMessages": ["chat.created"],
    "server": {"url": "https://example.com/hook", "headers": {"x-a": "b"}},
}


def test_create_get_update_delete(api: Api) -> None:
    created = api.post("/assistant", VAPI_EXPORT)
    assert created.status_code == 201
    assistant = created.json()
    assert {"id", "orgId", "createdAt", "updatedAt"} <= assistant.keys()
    assert assistant["voice"] == VAPI_EXPORT["voice"], "voice-only fields are kept unchanged"
    assert assistant["model"]["emotionRecognitionEnabled"] is True
    assert api.get(f"/assistant/{assistant['id']}").json() == assistant

    patched = api.patch(f"/assistant/{assistant['id']}", {"name": "Renamed", "firstMessage": "Hello"})
    assert patched.status_code == 200
    body = patched.json()
    assert (
        body["name"] == "Renamed"
        and body["firstMessage"] == "Hello"
        and body["voice"] == VAPI_EXPORT["voice"]
    )
    assert body["createdAt"] == assistant["createdAt"] and body["updatedAt"] >= assistant["updatedAt"]

    deleted = api.delete(f"/assistant/{assistant['id']}")
    assert deleted.status_code == 200 and deleted.json()["id"] == assistant["id"]
    assert api.get(f"/assistant/{assistant['id']}").status_code == 404


def test_list_with_limit_and_created_filters(api: Api) -> None:
    first = api.create_assistant(name="a1")
    time.sleep(0.01)
    second = api.create_assistant(name="a2")
    listed = api.get("/assistant").json()
    assert [a["id"] for a in listed] == [second["id"], first["id"]]
    assert [a["id"] for a in api.get("/assistant", params={"limit": 1}).json()] == [second["id"]]
    after = api.get("/assistant", params={"createdAtGt": first["createdAt"]}).json()
    assert [a["id"] for a in after] == [second["id"]]


def test_validation_names_the_field(api: Api) -> None:
    cases = [
        ({"model": {"provider": "nope", "model": "x"}}, "model.provider"),
        ({"model": {"provider": "openai"}}, "model.model"),
        ({"model": {"provider": "openai", "model": "x", "temperature": 3}}, "model.temperature"),
        ({"model": {"provider": "custom-llm", "model": "x"}}, "url"),
        ({"model": {"provider": "custom-llm", "model": "x", "url": "not a url"}}, "model.url"),
        ({"name": "x" * 41}, "name"),
        (
            {"model": {"provider": "openai", "model": "x", "messages": [{"role": "boss"}]}},
            "model.messages[0].role",
        ),
    ]
    for body, field in cases:
        response = api.post("/assistant", body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["statusCode"] == 400
        assert field in str(response.json()["message"]), (field, response.json())
    assert api.patch("/assistant/whatever", {"name": "x" * 41}).status_code == 400


def test_malformed_json_is_400(api: Api) -> None:
    response = api.http.post("/assistant", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400 and "JSON" in response.json()["message"]
    assert api.http.post("/assistant", content=b"[1]").status_code == 400


def test_an_exported_assistant_imports_with_a_new_id(api: Api) -> None:
    """A Vapi export carries its own id, orgId and times: the stored assistant gets chatloom's."""
    exported = {
        "id": "9a1c2f4e-0000-4000-8000-000000000001",
        "orgId": "someone-else",
        "createdAt": "2025-01-01T00:00:00.000Z",
        "updatedAt": "2025-01-01T00:00:00.000Z",
        "name": "Imported",
        "model": {"provider": "openai", "model": "gpt-4o-mini"},
    }
    response = api.post("/assistant", exported)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["id"] != exported["id"] and created["orgId"] != "someone-else"
    assert created["createdAt"] != exported["createdAt"]
    assert api.get(f"/assistant/{created['id']}").json() == created
