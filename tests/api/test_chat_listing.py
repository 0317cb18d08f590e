"""`GET /chat` filters, sorting and `PaginationMeta`; `DELETE /chat/{id}` returns the chat."""

from __future__ import annotations

from chatloom.testing.fake_llm import FakeLLM, FakeReply
from tests.support.client import Api


def test_list_filters_sort_and_pages(api: Api, fake_llm: FakeLLM) -> None:
    a1 = api.create_assistant(name="one")
    a2 = api.create_assistant(name="two")
    chats = []
    for i in range(5):
        assistant = a1 if i < 3 else a2
        fake_llm.push(FakeReply(text=f"r{i}", usage={"prompt_tokens": 100 * (5 - i), "completion_tokens": 1}))
        chats.append(api.chat(assistantId=assistant["id"], input=f"q{i}"))
    chained = api.chat(previousChatId=chats[0]["id"], input="more")

    everything = api.get("/chat").json()
    assert everything["metadata"] == {
        "itemsPerPage": 100,
        "totalItems": 6,
        "currentPage": 1,
        "totalPages": 1,
        "hasNextPage": False,
        "sortOrder": "DESC",
        "itemsBeyondRetention": False,
    }
    assert [c["id"] for c in everything["results"]] == [chained["id"], *[c["id"] for c in reversed(chats)]]

    page2 = api.get("/chat", params={"limit": "2.0", "page": 2, "sortOrder": "ASC"}).json()
    assert [c["id"] for c in page2["results"]] == [chats[2]["id"], chats[3]["id"]]
    assert page2["metadata"]["totalPages"] == 3 and page2["metadata"]["hasNextPage"] is True

    by_assistant = api.get("/chat", params={"assistantId": a2["id"]}).json()
    assert {c["id"] for c in by_assistant["results"]} == {chats[3]["id"], chats[4]["id"]}
    any_of = api.get("/chat", params={"assistantIdAny": f"{a1['id']},{a2['id']}"}).json()
    assert any_of["metadata"]["totalItems"] == 6
    ids = api.get("/chat", params={"idAny": f"{chats[0]['id']}, {chats[1]['id']}"}).json()
    assert ids["metadata"]["totalItems"] == 2
    assert api.get("/chat", params={"id": chats[1]["id"]}).json()["results"][0]["id"] == chats[1]["id"]
    previous = api.get("/chat", params={"previousChatId": chats[0]["id"]}).json()
    assert [c["id"] for c in previous["results"]] == [chained["id"]]

    later = api.get("/chat", params={"createdAtGt": chats[2]["createdAt"], "sortOrder": "ASC"}).json()
    assert [c["id"] for c in later["results"]][:1] == [chats[3]["id"]]
    upto = api.get("/chat", params={"createdAtLe": chats[1]["createdAt"]}).json()
    assert {c["id"] for c in upto["results"]} >= {chats[0]["id"], chats[1]["id"]}
    assert chats[2]["id"] not in {c["id"] for c in upto["results"]}
    assert (
        api.get("/chat", params={"updatedAtGe": chained["updatedAt"]}).json()["results"][0]["id"]
        == chained["id"]
    )

    by_cost = api.get("/chat", params={"sortBy": "cost", "sortOrder": "DESC", "assistantId": a1["id"]}).json()
    costs = [c["cost"] for c in by_cost["results"]]
    assert costs == sorted(costs, reverse=True) and costs[0] > costs[-1]


def test_bad_list_parameters_are_400(api: Api) -> None:
    for params in (
        {"limit": 5000},
        {"limit": "2.5"},
        {"page": 0},
        {"sortOrder": "UP"},
        {"sortBy": "name"},
        {"createdAtGt": "nope"},
    ):
        response = api.get("/chat", params=params)
        assert response.status_code == 400, params
        assert next(iter(params)) in str(response.json()["message"])


def test_delete_returns_the_chat(api: Api) -> None:
    assistant = api.create_assistant()
    chat = api.chat(assistantId=assistant["id"], input="bye")
    deleted = api.delete(f"/chat/{chat['id']}")
    assert deleted.status_code == 200 and deleted.json() == chat
    assert api.get(f"/chat/{chat['id']}").status_code == 404


def test_sort_by_duration_is_accepted(api: Api) -> None:
    assistant = api.create_assistant()
    first = api.chat(assistantId=assistant["id"], input="one")
    second = api.chat(assistantId=assistant["id"], input="two")
    listed = api.get("/chat", params={"sortBy": "duration", "sortOrder": "ASC"}).json()
    assert [c["id"] for c in listed["results"]] == [first["id"], second["id"]], "text chats sort by creation"


def test_a_workflow_filter_matches_no_chat(api: Api) -> None:
    """The original ChatsApi lists chats by `workflowId`; this server runs no workflows."""
    api.chat(assistant={"model": {"provider": "openai", "model": "gpt-4o-mini"}}, input="hi")
    listed = api.get("/chat", params={"workflowId": "00000000-0000-7000-8000-000000000000"})
    assert listed.status_code == 200, listed.text
    assert listed.json()["results"] == [] and listed.json()["metadata"]["totalItems"] == 0
    assert api.get("/chat").json()["metadata"]["totalItems"] == 1
