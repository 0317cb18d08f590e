"""`/credential` and which key a turn uses: inline credentials, then the org's (narrowed by
`credentialIds`), then the server's environment. Secrets are never shown again."""

from __future__ import annotations

import uuid
from typing import Any

from chatloom.testing.fake_llm import FakeLLM, FakeReply
from chatloom.testing.http_recorder import HttpRecorder
from tests.support.client import Api

OPENAI = {"provider": "openai", "model": "gpt-4o-mini"}
PUBLIC_FIELDS = {"id", "orgId", "provider", "name", "hint", "createdAt", "updatedAt"}


def secret(label: str) -> str:
    return f"sk-{label}-{uuid.uuid4().hex}"


def create_credential(api: Api, **fields: Any) -> dict[str, Any]:
    response = api.post("/credential", {"provider": "openai", **fields})
    assert response.status_code == 201, response.text
    return dict(response.json())


def key_used(fake: FakeLLM) -> str:
    return str(fake.requests[-1].headers.get("Authorization", ""))


def test_credential_crud_never_shows_the_secret(api: Api) -> None:
    key = secret("crud")
    created = create_credential(api, apiKey=key, name="main")
    assert set(created) == PUBLIC_FIELDS
    assert created["provider"] == "openai" and created["name"] == "main" and created["hint"] == key[-4:]
    assert api.get(f"/credential/{created['id']}").json() == created
    assert [c["id"] for c in api.get("/credential").json()] == [created["id"]]

    new_key = secret("rotated")
    patched = api.patch(f"/credential/{created['id']}", {"apiKey": new_key, "name": "renamed"}).json()
    assert patched["hint"] == new_key[-4:] and patched["name"] == "renamed"
    assert key not in str(patched) and new_key not in str(patched)

    assert api.delete(f"/credential/{created['id']}").status_code == 200
    assert api.get(f"/credential/{created['id']}").status_code == 404


def test_bad_credentials_are_400s_naming_the_field(api: Api) -> None:
    unsupported = api.post("/credential", {"provider": "elevenlabs", "apiKey": "x" * 20})
    assert unsupported.status_code == 400
    assert "elevenlabs" in str(unsupported.json()["message"])
    missing = api.post("/credential", {"provider": "anthropic"})
    assert missing.status_code == 400 and "apiKey" in str(missing.json()["message"])
    unknown = api.post("/credential", {"provider": "openai", "apiKey": "k" * 20, "colour": "red"})
    assert unknown.status_code == 400 and "colour" in str(unknown.json()["message"])
    no_plan = api.post("/credential", {"provider": "custom-credential"})
    assert no_plan.status_code == 400 and "authenticationPlan" in str(no_plan.json()["message"])
    created = create_credential(api, apiKey=secret("keep"))
    changed = api.patch(f"/credential/{created['id']}", {"provider": "groq"})
    assert changed.status_code == 400 and "provider" in str(changed.json()["message"])


def test_another_orgs_credential_is_not_found(api: Api, other_api: Api) -> None:
    theirs = create_credential(other_api, apiKey=secret("theirs"))
    for response in (
        api.get(f"/credential/{theirs['id']}"),
        api.patch(f"/credential/{theirs['id']}", {"name": "mine"}),
        api.delete(f"/credential/{theirs['id']}"),
    ):
        assert response.status_code == 404, response.text
    assert api.get("/credential").json() == []
    assert "name" not in other_api.get(f"/credential/{theirs['id']}").json(), (
        "the foreign PATCH changed nothing"
    )

    refused = api.post("/assistant", {"model": OPENAI, "credentialIds": [theirs["id"]]})
    assert refused.status_code == 400 and "credentialIds" in str(refused.json()["message"])
    inline = api.post(
        "/chat", {"assistant": {"model": OPENAI, "credentialIds": [theirs["id"]]}, "input": "hi"}
    )
    assert inline.status_code == 400 and "credentialIds" in str(inline.json()["message"])


def test_each_org_reaches_the_model_with_its_own_key(api: Api, other_api: Api, fake_llm: FakeLLM) -> None:
    key_a, key_b = secret("org-a"), secret("org-b")
    create_credential(api, apiKey=key_a)
    create_credential(other_api, apiKey=key_b)

    api.chat(assistant={"model": OPENAI}, input="hello")
    assert key_used(fake_llm) == f"Bearer {key_a}"
    other_api.chat(assistant={"model": OPENAI}, input="hello")
    assert key_used(fake_llm) == f"Bearer {key_b}"


def test_an_org_without_credentials_uses_the_environment(api: Api, fake_llm: FakeLLM) -> None:
    api.chat(assistant={"model": OPENAI}, input="hello")
    assert key_used(fake_llm) == "Bearer sk-test-openai"
    other_provider = create_credential(api, provider="groq", apiKey=secret("groq"))
    api.chat(assistant={"model": OPENAI}, input="hello")
    assert key_used(fake_llm) == "Bearer sk-test-openai", f"a {other_provider['provider']} key is not used"


def test_credential_ids_then_inline_credentials_take_precedence(api: Api, fake_llm: FakeLLM) -> None:
    older, newer, inline = secret("older"), secret("newer"), secret("inline")
    first = create_credential(api, apiKey=older)
    create_credential(api, apiKey=newer)

    api.chat(assistant={"model": OPENAI}, input="hello")
    assert key_used(fake_llm) == f"Bearer {newer}", "without credentialIds the newest credential is used"

    narrowed = api.create_assistant(credentialIds=[first["id"]])
    api.chat(assistantId=narrowed["id"], input="hello")
    assert key_used(fake_llm) == f"Bearer {older}"

    overridden = api.create_assistant(
        credentialIds=[first["id"]], credentials=[{"provider": "openai", "apiKey": inline}]
    )
    api.chat(assistantId=overridden["id"], input="hello")
    assert key_used(fake_llm) == f"Bearer {inline}"

    # Read back and sent again, the masked key keeps the stored one.
    shown = api.get(f"/assistant/{overridden['id']}").json()
    assert shown["credentials"] == [{"provider": "openai", "apiKey": "…" + inline[-4:]}]
    patched = api.patch(f"/assistant/{overridden['id']}", {"credentials": shown["credentials"]})
    assert patched.status_code == 200, patched.text
    api.chat(assistantId=overridden["id"], input="hello")
    assert key_used(fake_llm) == f"Bearer {inline}"


def test_a_deleted_credential_stops_being_used_at_once(api: Api, fake_llm: FakeLLM) -> None:
    credential = create_credential(api, apiKey=secret("short-lived"))
    api.chat(assistant={"model": OPENAI}, input="hello")
    assert key_used(fake_llm).endswith(credential["hint"])
    api.delete(f"/credential/{credential['id']}")
    api.chat(assistant={"model": OPENAI}, input="hello")
    assert key_used(fake_llm) == "Bearer sk-test-openai"


def test_a_custom_llm_credential_is_sent_to_model_url(api: Api, fake_llm: FakeLLM) -> None:
    key = secret("custom")
    create_credential(api, provider="custom-llm", apiKey=key)
    model = {"provider": "custom-llm", "model": "local", "url": fake_llm.base_url}
    api.chat(assistant={"model": model}, input="hello")
    assert key_used(fake_llm) == f"Bearer {key}"


def test_credential_routes_use_vapi_operation_ids(api: Api) -> None:
    paths = api.get("/api-json").json()["paths"]
    operations = {
        operation["operationId"]
        for path in ("/credential", "/credential/{id}")
        for operation in paths[path].values()
    }
    assert operations == {
        f"CredentialController_{name}" for name in ("create", "findAll", "findOne", "update", "remove")
    }


def test_assistant_overrides_credentials_come_first(api: Api, fake_llm: FakeLLM) -> None:
    stored, override = secret("stored"), secret("override")
    assistant = api.create_assistant(credentials=[{"provider": "openai", "apiKey": stored}])
    overrides = {"credentials": [{"provider": "openai", "apiKey": override}]}
    chat = api.chat(assistantId=assistant["id"], assistantOverrides=overrides, input="hello")
    assert key_used(fake_llm) == f"Bearer {override}"
    assert chat["assistantOverrides"]["credentials"] == [
        {"provider": "openai", "apiKey": "…" + override[-4:]}
    ]
    api.chat(previousChatId=chat["id"], input="again")
    assert key_used(fake_llm) == f"Bearer {override}", "a follow-up chat keeps the overrides"
    assert override not in api.get(f"/chat/{chat['id']}").text


def test_api_request_tools_send_their_credential(api: Api, fake_llm: FakeLLM) -> None:
    token = secret("api-request")
    bearer = create_credential(
        api,
        provider="custom-credential",
        authenticationPlan={"type": "bearer", "token": token, "bearerPrefixEnabled": False},
    )
    assert bearer["hint"] == token[-4:]
    with HttpRecorder().start() as recorder:
        tools = [
            {
                "type": "apiRequest",
                "name": "lookup",
                "method": "GET",
                "url": f"{recorder.url}/lookup",
                "credentialId": bearer["id"],
            },
            {
                "type": "apiRequest",
                "name": "broken",
                "method": "GET",
                "url": f"{recorder.url}/x",
                "credentialId": "nope",
            },
        ]
        calls = [
            {"id": f"call_{name}", "type": "function", "function": {"name": name, "arguments": "{}"}}
            for name in ("lookup", "broken")
        ]
        fake_llm.push(FakeReply(tool_calls=calls), FakeReply(text="done"))
        chat = api.chat(assistant={"model": {**OPENAI, "tools": tools}}, input="look it up")
        [call] = recorder.calls_to("/lookup")
        assert call.headers["Authorization"] == token
        assert recorder.calls_to("/x") == []
    results = {m["tool_call_id"]: m["content"] for m in chat["output"] if m["role"] == "tool"}
    assert results["call_lookup"].startswith("HTTP 200")
    assert "credentialId: credential nope not found" in results["call_broken"]


def test_a_sealed_value_sent_by_a_client_is_ignored(api: Api, fake_llm: FakeLLM) -> None:
    key = secret("real")
    assistant = api.create_assistant(
        credentials=[{"provider": "openai", "apiKey": key, "$sealed": "gAAAAforged"}]
    )
    assert assistant["credentials"] == [{"provider": "openai", "apiKey": "…" + key[-4:]}]
    api.chat(assistantId=assistant["id"], input="hello")
    assert key_used(fake_llm) == f"Bearer {key}"

    only_forged = api.create_assistant(credentials=[{"provider": "openai", "$sealed": "gAAAAforged"}])
    assert only_forged["credentials"] == [{"provider": "openai"}]
    api.chat(assistantId=only_forged["id"], input="hello")
    assert key_used(fake_llm) == "Bearer sk-test-openai"
