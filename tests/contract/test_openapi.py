"""`GET /api-json` is the contract: valid OpenAPI 3.1, Vapi's operation ids and `{id}` parameters, the
statuses each route really sends, and response schemas that what the server returns satisfies."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from chatloom.testing.fake_llm import FakeLLM, FakeReply
from tests.support.client import Api
from tests.support.server import ServerThread

VAPI_OPERATIONS = {
    ("post", "/v2/knowledge-base"): "KnowledgeBaseV2Controller_create",
    ("get", "/v2/knowledge-base"): "KnowledgeBaseV2Controller_findAll",
    ("get", "/v2/knowledge-base/{id}"): "KnowledgeBaseV2Controller_findOne",
    ("patch", "/v2/knowledge-base/{id}"): "KnowledgeBaseV2Controller_update",
    ("delete", "/v2/knowledge-base/{id}"): "KnowledgeBaseV2Controller_remove",
    ("get", "/v2/knowledge-base/{id}/file"): "KnowledgeBaseV2Controller_filesGet",
    ("post", "/v2/knowledge-base/{id}/file"): "KnowledgeBaseV2Controller_fileAttach",
    ("delete", "/v2/knowledge-base/{id}/file/{fileId}"): "KnowledgeBaseV2Controller_fileDetach",
    ("post", "/v2/knowledge-base/{id}/file/{fileId}/retry"): "KnowledgeBaseV2Controller_fileRetry",
    ("get", "/chat"): "ChatController_listChats",
    ("post", "/chat"): "ChatController_createChat",
    ("get", "/chat/{id}"): "ChatController_getChat",
    ("delete", "/chat/{id}"): "ChatController_deleteChat",
    ("post", "/chat/responses"): "ChatController_createOpenAIChat",
    ("post", "/session"): "SessionController_create",
    ("get", "/session"): "SessionController_findAllPaginated",
    ("get", "/session/{id}"): "SessionController_findOne",
    ("patch", "/session/{id}"): "SessionController_update",
    ("delete", "/session/{id}"): "SessionController_remove",
    ("post", "/assistant"): "AssistantController_create",
    ("get", "/assistant"): "AssistantController_findAll",
    ("get", "/assistant/{id}"): "AssistantController_findOne",
    ("patch", "/assistant/{id}"): "AssistantController_update",
    ("delete", "/assistant/{id}"): "AssistantController_remove",
    ("post", "/tool"): "ToolController_create",
    ("get", "/tool"): "ToolController_findAll",
    ("get", "/tool/{id}"): "ToolController_findOne",
    ("patch", "/tool/{id}"): "ToolController_update",
    ("delete", "/tool/{id}"): "ToolController_remove",
    ("post", "/credential"): "CredentialController_create",
    ("get", "/credential"): "CredentialController_findAll",
    ("get", "/credential/{id}"): "CredentialController_findOne",
    ("patch", "/credential/{id}"): "CredentialController_update",
    ("delete", "/credential/{id}"): "CredentialController_remove",
    ("post", "/file"): "FileController_create",
    ("get", "/file"): "FileController_findAll",
    ("get", "/file/{id}"): "FileController_findOne",
    ("patch", "/file/{id}"): "FileController_update",
    ("delete", "/file/{id}"): "FileController_remove",
}
UNADVERTISED = {
    "CreateChatIn": ("transport",),
    "ResponsesRequestIn": ("transport",),
    "CreateSessionIn": ("phoneNumberId", "phoneNumber"),
}


@pytest.fixture(scope="module")
def document(server: ServerThread) -> dict[str, Any]:
    response = httpx.get(f"{server.url}/api-json")
    assert response.status_code == 200
    return dict(response.json())


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def conforms(document: dict[str, Any], schema_name: str, value: Any) -> None:
    """Asserts `value` satisfies the documented component schema `schema_name`."""
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": document["components"]}
    errors = [
        f"{list(e.absolute_path)}: {e.message}" for e in Draft202012Validator(schema).iter_errors(value)
    ]
    assert not errors, errors


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_vapi_operation_ids_and_id_parameters(document: dict[str, Any]) -> None:
    found = {(method, path): operation["operationId"] for method, path, operation in operations(document)}
    assert {key: found.get(key) for key in VAPI_OPERATIONS} == VAPI_OPERATIONS
    assert found[("get", "/health")] == "HealthController_check"
    assert len(set(found.values())) == len(found)
    for _method, path, operation in operations(document):
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path":
                # Records inside another: OpenAI's conversation items (`{id}/items/{item_id}`) and Vapi's
                # knowledge-base files (`{id}/file/{fileId}`).
                inner = path.endswith("/items/{item_id}") or "/file/{fileId}" in path
                assert parameter["name"] == "id" or inner, path


def test_declared_answers(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        responses = operation["responses"]
        assert "422" not in responses, (method, path)
        success = [status for status in responses if status.startswith("2") and status not in ("202", "204")]
        assert len(success) == 1, (method, path)
        assert "schema" in responses[success[0]]["content"]["application/json"], (method, path)
        if path == "/health":
            assert operation["security"] == []
            continue
        assert {"400", "401", "500"} <= responses.keys(), (method, path)
        openai = "/responses" in path or path.startswith("/chat/conversations")
        error_schema = "OpenAIErrorBody" if openai else "ErrorBody"
        for status, answer in responses.items():
            if not status.startswith("2"):
                schema = answer["content"]["application/json"]["schema"]
                assert schema == {"$ref": f"#/components/schemas/{error_schema}"}, (method, path, status)
        if "{id}" in path:
            assert "404" in responses
        if method in ("post", "patch"):
            assert "413" in responses
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path in ("/chat", "/chat/responses"):
        turn = document["paths"][path]["post"]["responses"]
        assert {"404", "409", "413", "502", "504"} <= turn.keys()
        assert set(turn["200"]["content"]) == {"application/json", "text/event-stream"}
    assert "429" in document["paths"]["/chat/responses"]["post"]["responses"]
    accepted = document["paths"]["/chat"]["post"]["responses"]["202"]  # `background: true`
    assert accepted["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ChatAccepted"}


def test_refused_fields_are_not_advertised_but_still_refused_by_name(
    document: dict[str, Any], api: Api
) -> None:
    schemas = document["components"]["schemas"]
    for schema_name, fields in UNADVERTISED.items():
        assert not set(fields) & schemas[schema_name]["properties"].keys(), schema_name
    assistant = api.create_assistant()
    refused = api.post("/chat", {"assistantId": assistant["id"], "input": "hi", "transport": {"type": "sms"}})
    assert refused.status_code == 400 and "SMS transports are not supported" in refused.json()["message"]
    for schema_name in ("CreateChatIn", "CreateSessionIn"):
        assert {"squadId", "squad"} <= schemas[schema_name]["properties"].keys(), "squads are advertised"
    refused = api.post("/session", {"assistantId": assistant["id"], "phoneNumberId": "p"})
    assert refused.status_code == 400 and "SMS sessions are not supported" in refused.json()["message"]


def test_what_the_server_returns_satisfies_the_documented_schemas(document: dict[str, Any], api: Api) -> None:
    assistant = api.create_assistant(name="contract", metadata={"team": "a"}, voice={"provider": "x"})
    conforms(document, "Assistant", assistant)
    conforms(document, "Assistant", api.get(f"/assistant/{assistant['id']}").json())
    for item in api.get("/assistant").json():
        conforms(document, "Assistant", item)
    tool = api.post(
        "/tool",
        {
            "type": "function",
            "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}},
        },
    ).json()
    conforms(document, "Tool", tool)
    conforms(document, "Tool", api.patch(f"/tool/{tool['id']}", {"async": True}).json())

    chat = api.chat(assistantId=assistant["id"], input="hello", name="first")
    conforms(document, "Chat", chat)
    follow_up = api.chat(previousChatId=chat["id"], input=[{"role": "user", "content": "again"}])
    conforms(document, "Chat", follow_up)
    conforms(document, "ChatPaginatedResponse", api.get("/chat").json())
    background = api.post("/chat", {"assistantId": assistant["id"], "input": "later", "background": True})
    assert background.status_code == 202, background.text
    conforms(document, "ChatAccepted", background.json())
    for frame in api.stream({"assistantId": assistant["id"], "input": "stream me"}):
        if frame != "[DONE]":
            conforms(document, "CreateChatStreamResponse", frame)

    session = api.post("/session", {"assistantId": assistant["id"], "customer": {"name": "Ada"}}).json()
    conforms(document, "Session", session)
    in_session = api.chat(sessionId=session["id"], input="hi")
    conforms(document, "Chat", in_session)
    conforms(document, "Session", api.get(f"/session/{session['id']}").json())
    conforms(document, "Session", api.patch(f"/session/{session['id']}", {"status": "completed"}).json())
    conforms(document, "SessionPaginatedResponse", api.get("/session").json())

    response = api.post(
        "/chat/responses", {"assistantId": assistant["id"], "input": "hi", "stream": False}
    ).json()
    conforms(document, "OpenAIResponse", response)
    with api.http.stream(
        "POST", "/chat/responses", json={"assistantId": assistant["id"], "input": "hi"}
    ) as streamed:
        assert streamed.headers["content-type"].startswith("text/event-stream")
        events = [orjson.loads(line[6:]) for line in streamed.iter_lines() if line.startswith("data: ")]
    assert events[-1]["type"] == "response.completed"
    for event in events:
        conforms(document, "ResponseStreamEvent", event)

    credential = api.post("/credential", {"provider": "groq", "apiKey": "gsk-contract-1234", "name": "k"})
    conforms(document, "Credential", credential.json())
    conforms(document, "Credential", api.get(f"/credential/{credential.json()['id']}").json())
    for item in api.get("/credential").json():
        conforms(document, "Credential", item)
    conforms(document, "Credential", api.delete(f"/credential/{credential.json()['id']}").json())

    file = api.http.post("/file", files={"file": ("a.md", b"# hi", "text/markdown")}, data={"metadata": "{}"})
    conforms(document, "File", file.json())
    conforms(document, "File", api.patch(f"/file/{file.json()['id']}", {"name": "renamed"}).json())
    for item in api.get("/file").json():
        conforms(document, "File", item)
    conforms(document, "File", api.delete(f"/file/{file.json()['id']}").json())

    conforms(document, "Chat", api.delete(f"/chat/{chat['id']}").json())
    conforms(document, "Session", api.delete(f"/session/{session['id']}").json())
    conforms(document, "Tool", api.delete(f"/tool/{tool['id']}").json())
    conforms(document, "Assistant", api.delete(f"/assistant/{assistant['id']}").json())


def test_error_bodies_satisfy_the_documented_schemas(
    document: dict[str, Any], api: Api, server: ServerThread
) -> None:
    conforms(document, "ErrorBody", api.get("/chat/00000000-0000-0000-0000-000000000000").json())
    conforms(document, "ErrorBody", api.post("/chat", {"input": "hi"}).json())
    conforms(document, "OpenAIErrorBody", api.post("/chat/responses", {"input": "hi"}).json())
    conforms(document, "ErrorBody", httpx.get(f"{api.base_url}/session").json())
    too_large = {"input": "x" * (server.settings.max_body_bytes + 1)}
    refused = api.post("/chat/web", too_large)
    assert refused.status_code == 413
    conforms(document, "ErrorBody", refused.json())
    refused = api.post("/chat/web/responses", too_large)
    assert refused.status_code == 413
    conforms(document, "OpenAIErrorBody", refused.json())


def test_failed_streams_satisfy_the_documented_event_schemas(
    document: dict[str, Any], api: Api, fake_llm: FakeLLM
) -> None:
    assistant = api.create_assistant()
    fake_llm.push(FakeReply(status=400))
    frames = list(api.stream({"assistantId": assistant["id"], "input": "fail"}))
    assert frames[-1] == "[DONE]" and "error" in frames[-2]
    conforms(document, "ChatStreamError", frames[-2])
    fake_llm.push(FakeReply(status=400))
    with api.http.stream(
        "POST", "/chat/responses", json={"assistantId": assistant["id"], "input": "fail"}
    ) as streamed:
        events = [orjson.loads(line[6:]) for line in streamed.iter_lines() if line.startswith("data: ")]
    assert [event["type"] for event in events[-2:]] == ["error", "response.failed"]
    for event in events:
        conforms(document, "ResponseStreamEvent", event)
