"""Auth (401) and tenancy: another org's ids answer 404 exactly like unknown ids."""

from __future__ import annotations

import httpx

from tests.support.client import Api
from tests.support.server import ServerThread


def test_public_routes_need_no_key(server: ServerThread) -> None:
    assert httpx.get(f"{server.url}/health").status_code == 200
    assert httpx.get(f"{server.url}/docs").status_code == 200
    spec = httpx.get(f"{server.url}/api-json").json()
    assert "/chat" in spec["paths"] and "CreateChatIn" in spec["components"]["schemas"]


def test_missing_or_invalid_key_is_401_in_vapi_shape(server: ServerThread) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        response = httpx.get(f"{server.url}/chat", headers=headers)
        assert response.status_code == 401
        body = response.json()
        assert body["statusCode"] == 401 and body["error"] == "Unauthorized" and body["message"]
    response = httpx.post(f"{server.url}/chat", json={"input": "hi", "assistantId": "x"})
    assert response.status_code == 401


def test_other_orgs_records_are_invisible(api: Api, other_api: Api) -> None:
    assistant = api.create_assistant(name="mine")
    chat = api.chat(assistantId=assistant["id"], input="hello")
    for path in (f"/assistant/{assistant['id']}", f"/chat/{chat['id']}"):
        foreign = other_api.get(path)
        unknown = other_api.get(path.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000")
        assert foreign.status_code == unknown.status_code == 404
        assert foreign.json()["statusCode"] == 404
        assert other_api.delete(path).status_code == 404
    assert other_api.patch(f"/assistant/{assistant['id']}", {"name": "stolen"}).status_code == 404
    assert other_api.post("/chat", {"assistantId": assistant["id"], "input": "hi"}).status_code == 404
    assert other_api.post("/chat", {"previousChatId": chat["id"], "input": "hi"}).status_code == 404
    assert other_api.get("/chat").json()["metadata"]["totalItems"] == 0
    assert other_api.get("/assistant").json() == []
    assert api.get(f"/chat/{chat['id']}").status_code == 200
