"""The official `vapi-server-sdk` client pointed at chatloom, on every backend."""

from __future__ import annotations

import pytest
from vapi import AsyncVapi, Vapi
from vapi.core.api_error import ApiError

from chatloom.testing.fake_llm import FakeLLM, FakeReply
from tests.support.client import Api


def test_official_client_end_to_end(api: Api, fake_llm: FakeLLM) -> None:
    client = Vapi(token=api.key, base_url=api.base_url)
    assistant = client.assistants.create(
        name="Support",
        model={
            "provider": "openai",
            "model": "gpt-4o-mini",
            "messages": [{"role": "system", "content": "You are helping {{ customerName }}."}],
        },
        first_message="Hello!",
    )
    assert assistant.id and assistant.name == "Support"

    fake_llm.push(FakeReply(text="Hi Grace."), FakeReply(text="Sure."))
    first = client.chats.create(
        assistant_id=assistant.id,
        input="Hello",
        assistant_overrides={"variable_values": {"customerName": "Grace"}},
    )
    assert first.output[0].content == "Hi Grace."
    system = fake_llm.requests[-1].json["messages"][0]
    assert system == {"role": "system", "content": "You are helping Grace."}

    second = client.chats.create(previous_chat_id=first.id, input="Can you help?")
    assert second.output[0].content == "Sure."
    sent = fake_llm.requests[-1].json["messages"]
    assert sent == [
        {"role": "system", "content": "You are helping Grace."},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi Grace."},
        {"role": "user", "content": "Can you help?"},
    ]

    inline = client.chats.create(
        assistant={"model": {"provider": "custom-llm", "model": "local", "url": fake_llm.root_url}},
        input="ping",
    )
    assert inline.output[0].content == "You said: ping"

    page = client.chats.list(assistant_id=assistant.id, limit=1, page=2, sort_order="ASC")
    assert [c.id for c in page.results] == [second.id]
    assert page.metadata.total_items == 2 and page.metadata.current_page == 2
    everything = client.chats.list()
    assert everything.metadata.total_items == 3

    assert client.chats.get(first.id).id == first.id
    assert client.chats.delete(first.id).id == first.id
    with pytest.raises(ApiError) as missing:
        client.chats.get(first.id)
    assert missing.value.status_code == 404

    assert client.assistants.get(assistant.id).first_message == "Hello!"
    assert [a.id for a in client.assistants.list()] == [assistant.id]
    client.assistants.delete(assistant.id)


def test_async_official_client(api: Api, fake_llm: FakeLLM) -> None:
    import asyncio

    async def scenario() -> None:
        client = AsyncVapi(token=api.key, base_url=api.base_url)
        chat = await client.chats.create(
            assistant={"model": {"provider": "openai", "model": "gpt-4o-mini"}}, input="async hello"
        )
        assert chat.output[0].content == "You said: async hello"
        assert (await client.chats.get(chat.id)).id == chat.id

    asyncio.run(scenario())
