"""OpenAI's Conversations API under `/chat/conversations`, through the official `openai` SDK: conversations
and their items (create, retrieve, update, list with pagination and order, add, delete), tenancy, and the
`conversation` parameter of `responses.create` (history read from the conversation, the turn's input and
output appended to it, caller tools continued through it)."""

from __future__ import annotations

import threading
from typing import Any

import openai
import pytest

from chatloom.testing.fake_llm import FakeLLM, FakeReply
from tests.support.client import Api, client_for

WEATHER: dict[str, Any] = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
}
CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
}


def shapes(items: list[Any]) -> list[tuple[str, str, str]]:
    """(type, role or call id, text or name) of each item."""
    found = []
    for item in items:
        if item.type == "message":
            found.append(("message", item.role, "".join(part.text for part in item.content)))
        elif item.type == "function_call":
            found.append(("function_call", item.call_id, item.name))
        else:
            found.append((item.type, item.call_id, item.output))
    return found


def test_conversation_crud(api: Api) -> None:
    client = client_for(api)
    created = client.conversations.create(
        items=[
            {"type": "message", "role": "system", "content": "Be brief."},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hello"}]},
            {"role": "assistant", "content": [{"type": "output_text", "text": "Hi!"}]},
        ],
        metadata={"topic": "greetings"},
    )
    assert created.id.startswith("conv_") and created.object == "conversation"
    assert created.metadata == {"topic": "greetings"} and created.created_at > 0

    again = client.conversations.retrieve(created.id)
    assert (again.id, again.created_at, again.metadata) == (created.id, created.created_at, created.metadata)

    updated = client.conversations.update(created.id, metadata={"topic": "weather", "n": "2"})
    assert updated.metadata == {"topic": "weather", "n": "2"}
    assert client.conversations.retrieve(created.id).metadata == {"topic": "weather", "n": "2"}

    listed = client.conversations.items.list(created.id, order="asc")
    assert shapes(listed.data) == [
        ("message", "system", "Be brief."),
        ("message", "user", "Hello"),
        ("message", "assistant", "Hi!"),
    ]
    assert listed.data[1].content[0].type == "input_text"  # type: ignore[union-attr]
    assert listed.data[2].content[0].type == "output_text"  # type: ignore[union-attr]
    assert listed.has_more is False and listed.first_id == listed.data[0].id

    deleted = client.conversations.delete(created.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (created.id, "conversation.deleted", True)
    with pytest.raises(openai.NotFoundError):
        client.conversations.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.list(created.id)
    with pytest.raises(openai.NotFoundError):
        client.conversations.delete(created.id)


def test_items_pages_add_retrieve_and_delete(api: Api) -> None:
    client = client_for(api)
    conversation = client.conversations.create()
    assert conversation.metadata == {}
    assert client.conversations.items.list(conversation.id).data == []

    added = client.conversations.items.create(
        conversation.id,
        items=[{"type": "message", "role": "user", "content": f"m{n}"} for n in range(5)],
    )
    assert [text for _, _, text in shapes(added.data)] == ["m0", "m1", "m2", "m3", "m4"]
    more = client.conversations.items.create(
        conversation.id, items=[{"type": "message", "role": "developer", "content": "m5"}]
    )
    assert shapes(more.data) == [("message", "developer", "m5")]

    newest = client.conversations.items.list(conversation.id, limit=2)  # desc by default
    assert [text for _, _, text in shapes(newest.data)] == ["m5", "m4"] and newest.has_more
    page = client.conversations.items.list(conversation.id, limit=2, order="asc", after=added.data[1].id)
    assert [text for _, _, text in shapes(page.data)] == ["m2", "m3"] and page.has_more
    assert page.first_id == page.data[0].id and page.last_id == page.data[1].id
    every = list(client.conversations.items.list(conversation.id, limit=2, order="asc"))
    assert [text for _, _, text in shapes(every)] == ["m0", "m1", "m2", "m3", "m4", "m5"]

    one = client.conversations.items.retrieve(added.data[2].id, conversation_id=conversation.id)
    assert shapes([one]) == [("message", "user", "m2")] and one.id == added.data[2].id

    after = client.conversations.items.delete(added.data[2].id, conversation_id=conversation.id)
    assert after.id == conversation.id and after.object == "conversation"
    left = client.conversations.items.list(conversation.id, order="asc")
    assert [text for _, _, text in shapes(left.data)] == ["m0", "m1", "m3", "m4", "m5"]
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.retrieve(added.data[2].id, conversation_id=conversation.id)
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.delete(added.data[2].id, conversation_id=conversation.id)


def test_invalid_bodies_are_openai_400s(api: Api) -> None:
    client = client_for(api)
    with pytest.raises(openai.BadRequestError) as too_many:
        client.conversations.create(items=[{"role": "user", "content": "x"}] * 21)
    assert too_many.value.param is not None and "items" in too_many.value.param
    with pytest.raises(openai.BadRequestError) as metadata:
        client.conversations.create(metadata={f"k{n}": "v" for n in range(17)})
    assert "metadata" in str(metadata.value.param)
    with pytest.raises(openai.BadRequestError):
        client.conversations.create(metadata={"k" * 65: "v"})
    with pytest.raises(openai.BadRequestError):
        client.conversations.create(metadata={"k": "v" * 513})
    with pytest.raises(openai.BadRequestError) as role:
        client.conversations.create(items=[{"type": "message", "role": "tool", "content": "x"}])
    assert role.value.param == "items[0].role"
    conversation = client.conversations.create()
    with pytest.raises(openai.BadRequestError) as order:
        client.conversations.items.list(conversation.id, order="sideways")  # type: ignore[arg-type]
    assert order.value.param == "order"
    with pytest.raises(openai.BadRequestError) as limit:
        client.conversations.items.list(conversation.id, limit=101)
    assert limit.value.param == "limit"
    response = api.get("/chat/conversations/conv_nope")
    assert response.status_code == 404 and response.json()["error"]["type"] == "not_found_error"


def test_another_orgs_conversation_is_not_found(api: Api, other_api: Api) -> None:
    conversation = client_for(api).conversations.create(items=[{"role": "user", "content": "secret"}])
    items = client_for(api).conversations.items.list(conversation.id)
    other = client_for(other_api)
    with pytest.raises(openai.NotFoundError):
        other.conversations.retrieve(conversation.id)
    with pytest.raises(openai.NotFoundError):
        other.conversations.items.list(conversation.id)
    with pytest.raises(openai.NotFoundError):
        other.conversations.items.retrieve(items.data[0].id, conversation_id=conversation.id)
    with pytest.raises(openai.NotFoundError):
        other.conversations.items.create(conversation.id, items=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.NotFoundError):
        other.conversations.update(conversation.id, metadata={"a": "b"})
    with pytest.raises(openai.NotFoundError):
        other.conversations.delete(conversation.id)
    with pytest.raises(openai.NotFoundError):
        other.responses.create(model="gpt-4o-mini", input="hi", conversation=conversation.id)
    assert client_for(api).conversations.retrieve(conversation.id).id == conversation.id


def test_conversation_parameter_over_three_turns(api: Api, fake_llm: FakeLLM) -> None:
    client = client_for(api)
    conversation = client.conversations.create(items=[{"role": "user", "content": "My name is Ada."}])

    first = client.responses.create(
        model="gpt-4o-mini", input="hi", instructions="Be brief.", conversation=conversation.id
    )
    assert first.output_text == "You said: hi"
    assert first.conversation is not None and first.conversation.id == conversation.id
    assert fake_llm.requests[-1].json["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "My name is Ada."},
        {"role": "user", "content": "hi"},
    ]

    second = client.responses.create(
        model="gpt-4o-mini",
        input=[{"role": "user", "content": "again"}],
        conversation={"id": conversation.id},
    )
    assert second.output_text == "You said: again"
    assert fake_llm.requests[-1].json["messages"] == [
        {"role": "user", "content": "My name is Ada."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "You said: hi"},
        {"role": "user", "content": "again"},
    ]

    third = client.responses.create(model="gpt-4o-mini", input="and again", conversation=conversation.id)
    assert third.output_text == "You said: and again"
    sent = fake_llm.requests[-1].json["messages"]
    assert [m["content"] for m in sent] == [
        "My name is Ada.",
        "hi",
        "You said: hi",
        "again",
        "You said: again",
        "and again",
    ]

    items = client.conversations.items.list(conversation.id, order="asc")
    assert shapes(items.data) == [
        ("message", "user", "My name is Ada."),
        ("message", "user", "hi"),
        ("message", "assistant", "You said: hi"),
        ("message", "user", "again"),
        ("message", "assistant", "You said: again"),
        ("message", "user", "and again"),
        ("message", "assistant", "You said: and again"),
    ]
    # Each turn's chat reads the same log: the third one's messages are the whole conversation.
    chat = api.get(f"/chat/{third.id}").json()
    assert [m["content"] for m in chat["messages"]] == [m["content"] for m in sent]


def test_caller_tool_round_trip_through_a_conversation(api: Api, fake_llm: FakeLLM) -> None:
    client = client_for(api)
    conversation = client.conversations.create()
    fake_llm.push(FakeReply(tool_calls=[CALL]))
    first = client.responses.create(
        model="gpt-4o-mini",
        input="Weather in Oslo?",
        tools=[WEATHER],  # type: ignore[list-item]
        conversation=conversation.id,
    )
    assert [item.type for item in first.output] == ["function_call"]
    items = client.conversations.items.list(conversation.id, order="asc")
    assert shapes(items.data) == [
        ("message", "user", "Weather in Oslo?"),
        ("function_call", "call_1", "get_weather"),
    ]
    assert items.data[1].arguments == '{"city":"Oslo"}'  # type: ignore[union-attr]

    fake_llm.push(FakeReply(text="It is 7C and raining in Oslo."))
    answered = client.responses.create(
        model="gpt-4o-mini",
        input=[{"type": "function_call_output", "call_id": "call_1", "output": "7C, rain"}],
        tools=[WEATHER],  # type: ignore[list-item]
        conversation=conversation.id,
    )
    assert answered.output_text == "It is 7C and raining in Oslo."
    messages = fake_llm.requests[-1].json["messages"]
    assert messages[-2]["tool_calls"][0]["id"] == "call_1"
    assert messages[-1] == {"role": "tool", "tool_call_id": "call_1", "content": "7C, rain"}
    items = client.conversations.items.list(conversation.id, order="asc")
    assert shapes(items.data) == [
        ("message", "user", "Weather in Oslo?"),
        ("function_call", "call_1", "get_weather"),
        ("function_call_output", "call_1", "7C, rain"),
        ("message", "assistant", "It is 7C and raining in Oslo."),
    ]

    # An output that answers no call of the conversation is refused before any model call.
    with pytest.raises(openai.BadRequestError):
        client.responses.create(
            model="gpt-4o-mini",
            input=[{"type": "function_call_output", "call_id": "call_9", "output": "?"}],
            conversation=conversation.id,
        )


def test_conversation_parameter_errors(api: Api) -> None:
    client = client_for(api)
    first = client.responses.create(model="gpt-4o-mini", input="hi")
    conversation = client.conversations.create()
    with pytest.raises(openai.BadRequestError) as both:
        client.responses.create(
            model="gpt-4o-mini", input="x", conversation=conversation.id, previous_response_id=first.id
        )
    assert "conversation" in both.value.message
    with pytest.raises(openai.NotFoundError) as unknown:
        client.responses.create(model="gpt-4o-mini", input="x", conversation="conv_unknown")
    assert "conversation" in unknown.value.message and "conv_unknown" in unknown.value.message


def test_deleted_items_leave_the_history(api: Api, fake_llm: FakeLLM) -> None:
    client = client_for(api)
    conversation = client.conversations.create(
        items=[{"role": "user", "content": "keep"}, {"role": "user", "content": "forget"}]
    )
    items = client.conversations.items.list(conversation.id, order="asc")
    client.conversations.items.delete(items.data[1].id, conversation_id=conversation.id)
    response = client.responses.create(model="gpt-4o-mini", input="next", conversation=conversation.id)
    assert [m["content"] for m in fake_llm.requests[-1].json["messages"]] == ["keep", "next"]
    # The response's chat holds what the turn saw, so continuing it does not bring the item back.
    chat = api.get(f"/chat/{response.id}").json()
    assert [m["content"] for m in chat["messages"]] == ["keep", "next"]
    client.responses.create(model="gpt-4o-mini", input="again", previous_response_id=response.id)
    sent = [m["content"] for m in fake_llm.requests[-1].json["messages"]]
    assert sent == ["keep", "next", "You said: next", "again"]
    listed = client.conversations.items.list(conversation.id, order="asc")
    assert [item.content[0].text for item in listed.data] == ["keep", "next", "You said: next"]  # type: ignore[union-attr]


def test_concurrent_turns_lose_no_items(api: Api) -> None:
    client = client_for(api)
    conversation = client.conversations.create()
    errors: list[BaseException] = []

    def turn(n: int) -> None:
        try:
            client.responses.create(model="gpt-4o-mini", input=f"t{n}", conversation=conversation.id)
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=turn, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    texts = [
        text for _, _, text in shapes(list(client.conversations.items.list(conversation.id, order="asc")))
    ]
    assert sorted(texts) == sorted([f"t{n}" for n in range(4)] + [f"You said: t{n}" for n in range(4)])
    for n in range(4):
        # Each turn's answer follows its own input.
        assert texts[texts.index(f"t{n}") + 1] == f"You said: t{n}"


def test_items_added_during_a_turn_come_before_its_messages(api: Api, fake_llm: FakeLLM) -> None:
    client = client_for(api)
    conversation = client.conversations.create(items=[{"role": "user", "content": "first"}])
    fake_llm.push(FakeReply(text="slow answer", delay_seconds=1.0))
    done: list[Any] = []
    turn = threading.Thread(
        target=lambda: done.append(
            client.responses.create(model="gpt-4o-mini", input="question", conversation=conversation.id)
        )
    )
    turn.start()
    while not fake_llm.requests:  # the turn has read the conversation and is waiting for the model
        threading.Event().wait(0.01)
    client.conversations.items.create(conversation.id, items=[{"role": "user", "content": "meanwhile"}])
    turn.join()
    assert done and done[0].output_text == "slow answer"
    assert [m["content"] for m in fake_llm.requests[-1].json["messages"]] == ["first", "question"]
    texts = [
        text for _, _, text in shapes(client.conversations.items.list(conversation.id, order="asc").data)
    ]
    assert texts == ["first", "meanwhile", "question", "slow answer"]


def test_deleting_a_response_or_the_conversation_keeps_what_the_other_reads(api: Api) -> None:
    client = client_for(api)
    conversation = client.conversations.create(items=[{"role": "user", "content": "before"}])
    first = client.responses.create(model="gpt-4o-mini", input="one", conversation=conversation.id)
    second = client.responses.create(model="gpt-4o-mini", input="two", conversation=conversation.id)
    client.responses.delete(second.id)
    client.responses.delete(first.id)
    texts = [
        text for _, _, text in shapes(client.conversations.items.list(conversation.id, order="asc").data)
    ]
    assert texts == ["before", "one", "You said: one", "two", "You said: two"]

    third = client.responses.create(model="gpt-4o-mini", input="three", conversation=conversation.id)
    client.conversations.delete(conversation.id)
    chat = api.get(f"/chat/{third.id}").json()
    assert [m["content"] for m in chat["messages"]][-2:] == ["You said: two", "three"]
    assert [m["content"] for m in chat["output"]] == ["You said: three"]
    assert client.responses.retrieve(third.id).output_text == "You said: three"


def test_a_conversation_deleted_during_a_turn_leaves_the_response_whole(api: Api, fake_llm: FakeLLM) -> None:
    client = client_for(api)
    conversation = client.conversations.create(items=[{"role": "user", "content": "earlier"}])
    fake_llm.push(FakeReply(text="late answer", delay_seconds=1.0))
    done: list[Any] = []
    turn = threading.Thread(
        target=lambda: done.append(
            client.responses.create(model="gpt-4o-mini", input="question", conversation=conversation.id)
        )
    )
    turn.start()
    while not fake_llm.requests:
        threading.Event().wait(0.01)
    client.conversations.delete(conversation.id)
    turn.join()
    assert done and done[0].output_text == "late answer"
    chat = api.get(f"/chat/{done[0].id}").json()
    assert [m["content"] for m in chat["messages"]] == ["earlier", "question"]
    assert [m["content"] for m in chat["output"]] == ["late answer"]
    with pytest.raises(openai.NotFoundError):
        client.conversations.retrieve(conversation.id)


def test_an_image_is_listed_as_an_input_image_item(api: Api) -> None:
    from tests.api.test_content_parts import PNG_URL

    client = client_for(api)
    conversation = client.conversations.create()
    content = [{"type": "input_text", "text": "look"}, {"type": "input_image", "image_url": PNG_URL}]
    client.responses.create(
        model="gpt-4o-mini",
        input=[{"role": "user", "content": content}],  # type: ignore[list-item]
        conversation=conversation.id,
    )
    first = client.conversations.items.list(conversation.id, order="asc").data[0]
    assert [part.type for part in first.content] == ["input_text", "input_image"]  # type: ignore[union-attr]


def test_item_pages_take_documented_parameters_only(api: Api) -> None:
    conversation = client_for(api).conversations.create(items=[{"role": "user", "content": "hi"}])
    for path in (f"/chat/conversations/{conversation.id}/items",):
        refused = api.get(path, params={"include": "file_search_call.results"})
        assert refused.status_code == 400 and refused.json()["error"]["param"] == "include"
        assert api.get(path, params={"include": "message.input_image.image_url"}).status_code == 200
    spec = api.get("/api-json").json()["paths"]
    for path in ("/chat/conversations/{id}/items", "/chat/responses/{id}/input_items"):
        names = {p["name"] for p in spec[path]["get"]["parameters"]}
        assert {"limit", "order", "after", "include"} <= names
