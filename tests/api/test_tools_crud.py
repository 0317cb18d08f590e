"""`/tool` CRUD and validation, for `function` and `apiRequest` tools."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.support.client import Api

FUNCTION_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
        "strict": False,
    },
    "server": {
        "url": "https://example.com/tools",
        "headers": {"x-a": "b"},
        "timeoutSeconds": 10,
        "backoffPlan": {"type": "exponential", "maxRetries": 2, "baseDelaySeconds": 1},
    },
    "async": False,
    "messages": [{"type": "request-start", "content": "One moment."}],
    "rejectionPlan": {"conditions": []},
}

API_REQUEST_TOOL: dict[str, Any] = {
    "type": "apiRequest",
    "name": "lookup_order",
    "description": "Looks an order up.",
    "method": "POST",
    "url": "https://api.example.com/orders/{{ orderId }}",
    "timeoutSeconds": 15,
    "body": {
        "type": "object",
        "properties": {"orderId": {"type": "string"}, "source": {"type": "string", "value": "chat"}},
        "required": ["orderId"],
    },
    "headers": {"type": "object", "properties": {"x-api-key": {"type": "string", "value": "secret"}}},
    "backoffPlan": {"type": "fixed", "maxRetries": 1, "baseDelaySeconds": 0.5, "excludedStatusCodes": [400]},
    "variableExtractionPlan": {"aliases": [{"key": "status", "value": "{{ $.status }}"}]},
}


def create(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/tool", body)
    assert response.status_code == 201, response.text
    return dict(response.json())


@pytest.mark.parametrize("body", [FUNCTION_TOOL, API_REQUEST_TOOL], ids=["function", "apiRequest"])
def test_create_get_update_delete(api: Api, body: dict[str, Any]) -> None:
    tool = create(api, body)
    assert {"id", "orgId", "createdAt", "updatedAt"} <= tool.keys()
    assert {key: tool[key] for key in body} == body, "every field is kept as given, unknown ones too"
    assert api.get(f"/tool/{tool['id']}").json() == tool

    change = (
        {"function": {**FUNCTION_TOOL["function"], "name": "get_forecast"}}
        if body["type"] == "function"
        else {"url": "http://internal.example.com/v2/orders", "method": "GET"}
    )
    patched = api.patch(f"/tool/{tool['id']}", {**change, "type": body["type"], "extra": {"kept": True}})
    assert patched.status_code == 200, patched.text
    updated = patched.json()
    assert {key: updated[key] for key in change} == change
    assert updated["extra"] == {"kept": True}
    assert (
        updated["messages" if body["type"] == "function" else "body"]
        == tool["messages" if body["type"] == "function" else "body"]
    ), "fields not in the patch are unchanged"
    assert updated["id"] == tool["id"] and updated["createdAt"] == tool["createdAt"]
    assert updated["updatedAt"] >= tool["updatedAt"]
    assert api.get(f"/tool/{tool['id']}").json() == updated

    deleted = api.delete(f"/tool/{tool['id']}")
    assert deleted.status_code == 200 and deleted.json() == updated
    assert api.get(f"/tool/{tool['id']}").status_code == 404
    assert api.delete(f"/tool/{tool['id']}").status_code == 404


def test_server_owned_fields_are_ignored(api: Api) -> None:
    tool = create(
        api, {**FUNCTION_TOOL, "id": "mine", "orgId": "theirs", "createdAt": "2000-01-01T00:00:00Z"}
    )
    assert tool["id"] != "mine" and tool["orgId"] != "theirs" and not tool["createdAt"].startswith("2000")
    patched = api.patch(f"/tool/{tool['id']}", {"id": "other", "createdAt": "2000-01-01T00:00:00Z"}).json()
    assert patched["id"] == tool["id"] and patched["createdAt"] == tool["createdAt"]


def test_minimal_tools(api: Api) -> None:
    client_side = create(api, {"type": "function", "function": {"name": "pick-a-card"}})
    assert client_side["function"] == {"name": "pick-a-card"} and "server" not in client_side
    request = create(
        api, {"type": "apiRequest", "method": "GET", "url": "http://localhost:8080", "name": "ping"}
    )
    assert request["url"] == "http://localhost:8080"


def test_list_with_limit_and_created_filters(api: Api) -> None:
    first = create(api, FUNCTION_TOOL)
    time.sleep(0.01)
    second = create(api, API_REQUEST_TOOL)
    listed = api.get("/tool")
    assert listed.status_code == 200
    assert [t["id"] for t in listed.json()] == [second["id"], first["id"]]
    assert [t["id"] for t in api.get("/tool", params={"limit": 1}).json()] == [second["id"]]
    after = api.get("/tool", params={"createdAtGt": first["createdAt"]}).json()
    assert [t["id"] for t in after] == [second["id"]]
    until = api.get("/tool", params={"createdAtLe": first["createdAt"]}).json()
    assert [t["id"] for t in until] == [first["id"]]
    assert api.get("/tool", params={"limit": 1001}).status_code == 400
    assert api.get("/tool", params={"createdAtGt": "yesterday"}).status_code == 400


def _function(**function: Any) -> dict[str, Any]:
    return {"type": "function", "function": function}


def _api_request(**fields: Any) -> dict[str, Any]:
    return {**API_REQUEST_TOOL, **fields}


def _without(body: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != key}


VALIDATION_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("function name with a space", _function(name="get weather"), "function.name"),
    ("function name too long", _function(name="f" * 65), "function.name"),
    ("missing function", {"type": "function"}, "function"),
    ("function without name", _function(description="x"), "function.name"),
    (
        "parameters not an object",
        _function(name="f", parameters={"type": "array"}),
        "function.parameters.type",
    ),
    (
        "server url not http",
        {**_function(name="f"), "server": {"url": "ftp://example.com"}},
        "server.url",
    ),
    (
        "backoff retries out of range",
        {
            **_function(name="f"),
            "server": {"backoffPlan": {"type": "fixed", "maxRetries": 11, "baseDelaySeconds": 1}},
        },
        "server.backoffPlan.maxRetries",
    ),
    ("bad method", _api_request(method="FETCH"), "method"),
    ("missing method", _without(API_REQUEST_TOOL, "method"), "method"),
    ("missing url", _without(API_REQUEST_TOOL, "url"), "url"),
    ("url not http", _api_request(url="ftp://example.com/x"), "url"),
    ("url without host", _api_request(url="https:///x"), "url"),
    ("url not a url", _api_request(url="{{ base }}/x"), "url"),
    ("missing name", _without(API_REQUEST_TOOL, "name"), "name"),
    ("name with a dot", _api_request(name="lookup.order"), "name"),
    ("name too long", _api_request(name="n" * 41), "name"),
    ("timeout too small", _api_request(timeoutSeconds=0), "timeoutSeconds"),
    ("timeout too large", _api_request(timeoutSeconds=301), "timeoutSeconds"),
    ("headers not an object schema", _api_request(headers={"x-api-key": "secret"}), "headers.type"),
    (
        "backoff type",
        _api_request(backoffPlan={"type": "linear", "maxRetries": 1, "baseDelaySeconds": 1}),
        "backoffPlan.type",
    ),
    (
        "backoff delay",
        _api_request(backoffPlan={"type": "fixed", "maxRetries": 1, "baseDelaySeconds": 11}),
        "backoffPlan.baseDelaySeconds",
    ),
    ("unsupported type", {"type": "endCall"}, "type"),
    ("missing type", {"function": {"name": "f"}}, "type"),
]


@pytest.mark.parametrize(
    ("body", "field"), [c[1:] for c in VALIDATION_CASES], ids=[c[0] for c in VALIDATION_CASES]
)
def test_validation_names_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    response = api.post("/tool", body)
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["statusCode"] == 400 and error["error"] == "Bad Request"
    assert any(str(m).startswith(f"{field}:") for m in _messages(error)), (field, error)


def _messages(error: dict[str, Any]) -> list[str]:
    message = error["message"]
    return message if isinstance(message, list) else [message]


@pytest.mark.parametrize("kind", ["endCall", "transferCall", "dtmf", "sms", "nope"])
def test_other_tool_types_are_refused(api: Api, kind: str) -> None:
    response = api.post("/tool", {"type": kind, "function": {"name": "f"}})
    assert response.status_code == 400
    assert response.json()["message"] == f"type: tool type '{kind}' is not supported in chat"


def test_patch_validates_the_merged_tool(api: Api) -> None:
    function = create(api, FUNCTION_TOOL)
    request = create(api, API_REQUEST_TOOL)
    cases = [
        (function, {"type": "apiRequest"}, "type"),
        (request, {"type": "function"}, "type"),
        (request, {"type": "endCall"}, "type"),
        (function, {"function": {"name": "bad name"}}, "function.name"),
        (function, {"function": None}, "function"),
        (request, {"url": "ftp://example.com"}, "url"),
        (request, {"url": None}, "url"),
        (request, {"method": "FETCH"}, "method"),
        (request, {"timeoutSeconds": 0}, "timeoutSeconds"),
        (request, {"name": "n" * 41}, "name"),
    ]
    for tool, change, field in cases:
        response = api.patch(f"/tool/{tool['id']}", change)
        assert response.status_code == 400, (change, response.text)
        assert any(str(m).startswith(f"{field}:") for m in _messages(response.json())), (
            change,
            response.json(),
        )
    assert api.get(f"/tool/{function['id']}").json() == function, "a refused patch changes nothing"
    assert api.get(f"/tool/{request['id']}").json() == request
    assert api.patch("/tool/whatever", {"timeoutSeconds": 0}).status_code == 400
    assert api.patch("/tool/whatever", {"description": "x"}).status_code == 404


def test_another_orgs_tool_is_not_found(api: Api, other_api: Api) -> None:
    tool = create(api, API_REQUEST_TOOL)
    path = f"/tool/{tool['id']}"
    assert other_api.get(path).status_code == 404
    assert other_api.patch(path, {"description": "mine now"}).status_code == 404
    assert other_api.delete(path).status_code == 404
    assert other_api.get("/tool").json() == []
    not_found = other_api.get(path).json()
    assert not_found["statusCode"] == 404 and not_found["error"] == "Not Found"
    assert api.get(path).json() == tool


def test_malformed_json_is_400(api: Api) -> None:
    response = api.http.post("/tool", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400 and "JSON" in response.json()["message"]
    assert api.http.post("/tool", content=b"[1]").status_code == 400
    assert api.http.post("/tool", content=b"").status_code == 400
    tool = create(api, FUNCTION_TOOL)
    assert api.http.patch(f"/tool/{tool['id']}", content=b"{nope").status_code == 400


def test_openapi_documents_tool_bodies(api: Api) -> None:
    document = api.get("/api-json").json()
    schemas = document["components"]["schemas"]
    assert {"ToolIn", "ToolPatch", "FunctionToolIn", "ApiRequestToolIn"} <= schemas.keys()
    assert document["paths"]["/tool"]["post"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ToolIn"
    }
    assert {"get", "patch", "delete"} <= document["paths"]["/tool/{id}"].keys()


def test_handoff_tools_are_stored_and_checked(api: Api) -> None:
    destination = {"type": "assistant", "assistantName": "Billing", "contextEngineeringPlan": {"type": "all"}}
    created = api.post("/tool", {"type": "handoff", "destinations": [destination, {"type": "dynamic"}]})
    assert created.status_code == 201, created.text
    assert created.json()["destinations"][0] == destination
    bad_plan = {**destination, "contextEngineeringPlan": {"type": "lastNMessages"}}
    response = api.post("/tool", {"type": "handoff", "destinations": [bad_plan]})
    assert response.status_code == 400 and "maxMessages" in str(response.json()["message"])
    response = api.post("/tool", {"type": "handoff", "destinations": [{"type": "assistant"}]})
    assert response.status_code == 400 and "destinations[0]" in str(response.json()["message"])
