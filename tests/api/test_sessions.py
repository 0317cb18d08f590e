"""Sessions: CRUD, chats that share a session's history, refusals, costs and expiry."""

from __future__ import annotations

from typing import Any

from vapi import Vapi

from chatloom.testing.fake_llm import FakeLLM, FakeReply
from tests.support.client import Api
from tests.support.clock import expire_session
from tests.support.server import ServerThread

UNKNOWN = "00000000-0000-0000-0000-000000000000"
PROMPT = {"role": "system", "content": "Helping {{ customer.name }} ({{ plan }})."}


def new_session(api: Api, **fields: Any) -> dict[str, Any]:
    assistant = api.create_assistant(
        model={"provider": "openai", "model": "gpt-4o-mini", "messages": [PROMPT]}
    )
    body = {"assistantId": assistant["id"], **fields}
    response = api.post("/session", body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_session_through_the_official_client(api: Api, fake_llm: FakeLLM) -> None:
    client = Vapi(token=api.key, base_url=api.base_url)
    assistant = api.create_assistant(
        model={"provider": "openai", "model": "gpt-4o-mini", "messages": [PROMPT]}
    )
    session = client.sessions.create(
        assistant_id=assistant["id"],
        name="support",
        customer={"name": "Lin"},
        request_options={
            "additional_body_parameters": {"assistantOverrides": {"variableValues": {"plan": "pro"}}}
        },
    )
    assert session.status == "active" and session.expiration_seconds == 86400

    fake_llm.push(FakeReply(text="First answer.", usage={"prompt_tokens": 1000, "completion_tokens": 10}))
    first = client.chats.create(session_id=session.id, input="first question")
    assert first.session_id == session.id and first.output[0].content == "First answer."
    second = client.chats.create(session_id=session.id, input="second question")
    sent = fake_llm.requests[-1].json["messages"]
    assert sent == [
        {"role": "system", "content": "Helping Lin (pro)."},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "First answer."},
        {"role": "user", "content": "second question"},
    ]
    assert second.messages[-1].content == "second question"  # type: ignore[union-attr]

    frames = list(api.stream({"sessionId": session.id, "input": "third, streamed"}))
    assert frames[-1] == "[DONE]" and all(f["sessionId"] == session.id for f in frames[:-1])

    stored = client.sessions.get(session.id)
    assert [m.content for m in stored.messages] == [  # type: ignore[union-attr]
        "first question",
        "First answer.",
        "second question",
        "You said: second question",
        "third, streamed",
        "You said: third, streamed",
    ]
    assert stored.cost is not None and stored.cost > 0
    assert stored.costs and stored.costs[0].prompt_tokens > 1000  # type: ignore[union-attr]
    chats = client.chats.list(session_id=session.id)
    assert chats.metadata.total_items == 3
    assert abs(sum(c.cost or 0 for c in chats.results) - stored.cost) < 1e-12

    renamed = client.sessions.update(session.id, name="renamed", expiration_seconds=3600)
    assert renamed.name == "renamed" and renamed.expiration_seconds == 3600
    listed = client.sessions.list(assistant_id=assistant["id"])
    assert [s.id for s in listed.results] == [session.id]
    assert client.sessions.delete(session.id).id == session.id
    assert api.get(f"/session/{session.id}").status_code == 404
    assert api.get(f"/chat/{first.id}").status_code == 200, "a deleted session's chats remain"


def test_initial_messages_inline_assistant_and_patching_messages(api: Api, fake_llm: FakeLLM) -> None:
    response = api.post(
        "/session",
        {
            "assistant": {"model": {"provider": "openai", "model": "gpt-4o-mini"}},
            "messages": [{"role": "user", "content": "earlier"}, {"role": "assistant", "content": "noted"}],
            "expirationSeconds": 600,
        },
    )
    assert response.status_code == 201
    session = response.json()
    api.chat(sessionId=session["id"], input="now")
    assert [m["content"] for m in fake_llm.requests[-1].json["messages"]] == ["earlier", "noted", "now"]
    patched = api.patch(f"/session/{session['id']}", {"messages": [{"role": "user", "content": "reset"}]})
    assert patched.status_code == 200 and len(patched.json()["messages"]) == 1
    chat = api.chat(sessionId=session["id"], input="after reset")
    assert chat["messages"] == [
        {"role": "user", "content": "reset"},
        {"role": "user", "content": "after reset"},
    ]


def test_refusals(api: Api, other_api: Api, server: ServerThread) -> None:
    session = new_session(api)
    for body, field in (
        ({"sessionId": session["id"], "assistantId": UNKNOWN, "input": "x"}, "assistantId"),
        ({"sessionId": session["id"], "previousChatId": UNKNOWN, "input": "x"}, "previousChatId"),
        (
            {"sessionId": session["id"], "input": "x", "assistantOverrides": {"variableValues": {}}},
            "assistantOverrides",
        ),
    ):
        response = api.post("/chat", body)
        assert response.status_code == 400 and field in str(response.json()["message"])

    assert other_api.post("/chat", {"sessionId": session["id"], "input": "x"}).status_code == 404
    assert other_api.get(f"/session/{session['id']}").status_code == 404
    assert other_api.patch(f"/session/{session['id']}", {"name": "x"}).status_code == 404
    assert other_api.delete(f"/session/{session['id']}").status_code == 404
    assert other_api.get("/session").json()["metadata"]["totalItems"] == 0

    completed = api.patch(f"/session/{session['id']}", {"status": "completed"})
    assert completed.json()["status"] == "completed"
    refused = api.post("/chat", {"sessionId": session["id"], "input": "x"})
    assert refused.status_code == 400 and "completed" in refused.json()["message"]
    assert api.patch(f"/session/{session['id']}", {"status": "active"}).json()["status"] == "active"
    api.chat(sessionId=session["id"], input="reopened")

    expiring = new_session(api)
    expire_session(server.settings.database_url, expiring["id"])
    assert api.get(f"/session/{expiring['id']}").json()["status"] == "completed"
    refused = api.post("/chat", {"sessionId": expiring["id"], "input": "x"})
    assert refused.status_code == 400 and "expired" in refused.json()["message"]

    deleted = new_session(api)
    api.delete(f"/session/{deleted['id']}")
    gone = api.post("/chat", {"sessionId": deleted["id"], "input": "x"})
    assert gone.status_code == 404 and "Session" in gone.json()["message"]
    assert api.post("/chat", {"sessionId": UNKNOWN, "input": "x"}).status_code == 404


def test_bad_session_fields_are_400(api: Api) -> None:
    assistant = api.create_assistant()
    cases = [
        ({}, "assistantId"),
        ({"assistantId": assistant["id"], "name": "x" * 41}, "name"),
        ({"assistantId": assistant["id"], "expirationSeconds": 59}, "expirationSeconds"),
        ({"assistantId": assistant["id"], "expirationSeconds": 2_592_001}, "expirationSeconds"),
        ({"assistantId": assistant["id"], "status": "paused"}, "status"),
        ({"assistantId": assistant["id"], "messages": [{"role": "user"}]}, "messages[0]"),
        (
            {"assistantId": assistant["id"], "assistant": {"model": {"provider": "openai", "model": "m"}}},
            "assistantId",
        ),
        ({"assistantId": assistant["id"], "bogus": True}, "bogus"),
    ]
    for body, field in cases:
        response = api.post("/session", body)
        assert response.status_code == 400, (body, response.text)
        assert field in str(response.json()["message"]), (field, response.json())
    assert api.post("/session", {"assistantId": UNKNOWN}).status_code == 404
    session = api.post("/session", {"assistantId": assistant["id"]}).json()
    for body in ({"expirationSeconds": 10}, {"status": "paused"}, {"name": None}, {"assistantId": "x"}):
        assert api.patch(f"/session/{session['id']}", body).status_code == 400, body


def test_list_sessions_filters_and_pages(api: Api) -> None:
    first = new_session(api, name="alpha")
    second = new_session(api, name="beta")
    everything = api.get("/session").json()
    assert [s["id"] for s in everything["results"]] == [second["id"], first["id"]]
    assert everything["metadata"]["totalItems"] == 2 and everything["metadata"]["sortOrder"] == "DESC"
    assert [s["id"] for s in api.get("/session", params={"name": "alpha"}).json()["results"]] == [first["id"]]
    page = api.get("/session", params={"limit": 1, "page": 2}).json()
    assert [s["id"] for s in page["results"]] == [first["id"]] and page["metadata"]["hasNextPage"] is False
    both = api.get("/session", params={"idAny": f"{first['id']},{second['id']}", "sortOrder": "ASC"}).json()
    assert [s["id"] for s in both["results"]] == [first["id"], second["id"]]
    by_assistant = api.get("/session", params={"assistantIdAny": first["assistantId"]}).json()
    assert [s["id"] for s in by_assistant["results"]] == [first["id"]]
