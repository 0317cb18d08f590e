"""`POST /chat` turns: assistants, Liquid variables, previousChatId context, inline custom-llm, costs."""

from __future__ import annotations

from typing import Any

from chatloom.testing.fake_llm import FakeLLM, FakeReply
from tests.support.client import Api


def model_messages(fake: FakeLLM, index: int = -1) -> list[dict[str, Any]]:
    return list(fake.requests[index].json["messages"])


def test_chat_with_assistant_and_variables(api: Api, fake_llm: FakeLLM) -> None:
    assistant = api.create_assistant(
        model={
            "provider": "openai",
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "Help {{ name }} from {{ company }}. Year {{ year }}."}
            ],
            "temperature": 0.2,
            "maxTokens": 120,
        }
    )
    fake_llm.push(FakeReply(text="Hello Ada!", usage={"prompt_tokens": 1000, "completion_tokens": 500}))
    chat = api.chat(
        assistantId=assistant["id"],
        input="Hi",
        name="first",
        assistantOverrides={"variableValues": {"name": "Ada", "company": "Acme"}},
    )
    assert chat["output"] == [{"role": "assistant", "content": "Hello Ada!"}]
    assert chat["messages"] == [{"role": "user", "content": "Hi"}], (
        "the system prompt is not part of messages"
    )
    assert chat["input"] == "Hi" and chat["name"] == "first" and chat["assistantId"] == assistant["id"]
    sent = fake_llm.requests[-1].json
    assert sent["messages"][0]["role"] == "system"
    assert sent["messages"][0]["content"].startswith("Help Ada from Acme. Year 20")
    assert sent["messages"][1:] == [{"role": "user", "content": "Hi"}]
    assert sent["temperature"] == 0.2 and sent["max_completion_tokens"] == 120
    assert fake_llm.requests[-1].headers["Authorization"] == "Bearer sk-test-openai"
    # gpt-4o-mini: $0.15 per million input tokens, $0.60 per million output tokens.
    assert chat["costs"] == [
        {
            "type": "model",
            "model": {"provider": "openai", "model": "gpt-4o-mini"},
            "promptTokens": 1000,
            "completionTokens": 500,
            "cachedPromptTokens": 0,
            "cost": chat["cost"],
        }
    ]
    assert abs(chat["cost"] - (1000 * 0.15 + 500 * 0.60) / 1_000_000) < 1e-12
    assert api.get(f"/chat/{chat['id']}").json() == chat


def test_previous_chat_id_chains_context_and_inherits_assistant(api: Api, fake_llm: FakeLLM) -> None:
    assistant = api.create_assistant(
        model={
            "provider": "openai",
            "model": "gpt-4o-mini",
            "messages": [{"role": "system", "content": "Hi {{n}}"}],
        }
    )
    fake_llm.push(FakeReply(text="one"), FakeReply(text="two"))
    first = api.chat(
        assistantId=assistant["id"], input="1", assistantOverrides={"variableValues": {"n": "Bo"}}
    )
    second = api.chat(previousChatId=first["id"], input=[{"role": "user", "content": "2"}])
    assert second["assistantId"] == assistant["id"] and second["previousChatId"] == first["id"]
    assert second["assistantOverrides"] == {"variableValues": {"n": "Bo"}}
    assert second["messages"] == [
        {"role": "user", "content": "1"},
        {"role": "assistant", "content": "one"},
        {"role": "user", "content": "2"},
    ]
    assert model_messages(fake_llm) == [{"role": "system", "content": "Hi Bo"}, *second["messages"]]


def test_inline_custom_llm_assistant(api: Api, fake_llm: FakeLLM) -> None:
    assistant = {
        "model": {
            "provider": "custom-llm",
            "model": "llama3",
            "url": fake_llm.root_url,
            "headers": {"X-Custom": "yes"},
            "messages": [{"role": "system", "content": "Be brief."}],
        }
    }
    chat = api.chat(assistant=assistant, input="ping")
    assert chat["output"][0]["content"] == "You said: ping"
    assert chat["assistant"]["model"]["provider"] == "custom-llm"
    request = fake_llm.requests[-1]
    assert request.path == "/chat/completions"
    assert request.headers["X-Custom"] == "yes"
    assert request.json["model"] == "llama3"
    follow_up = api.chat(previousChatId=chat["id"], input="again")
    assert follow_up["assistant"] == chat["assistant"]
    assert len(model_messages(fake_llm)) == 4


def test_openai_compatible_vendor_uses_its_key(api: Api, fake_llm: FakeLLM) -> None:
    chat = api.chat(assistant={"model": {"provider": "groq", "model": "llama-3.1-8b-instant"}}, input="x")
    assert chat["output"][0]["content"] == "You said: x"
    assert fake_llm.requests[-1].headers["Authorization"] == "Bearer gsk-test-groq"
    assert "max_completion_tokens" not in fake_llm.requests[-1].json


def test_input_message_array_keeps_roles_and_accepts_message_synonym(api: Api, fake_llm: FakeLLM) -> None:
    assistant = api.create_assistant()
    chat = api.chat(
        assistantId=assistant["id"],
        input=[
            {"role": "system", "message": "Extra rule"},
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": "b"},
            {"role": "user", "content": [{"type": "text", "text": "c"}]},
        ],
    )
    assert [m["content"] for m in chat["messages"]] == ["Extra rule", "a", "b", "c"]
    assert model_messages(fake_llm)[-1] == {"role": "user", "content": "c"}


def test_chat_says_whether_it_was_streamed_and_counts_reasoning_tokens(api: Api, fake_llm: FakeLLM) -> None:
    usage = {
        "prompt_tokens": 10,
        "completion_tokens": 40,
        "completion_tokens_details": {"reasoning_tokens": 25},
    }
    fake_llm.push(FakeReply(text="Thought it through.", usage=usage))
    plain = api.chat(assistant={"model": {"provider": "openai", "model": "o3-mini"}}, input="Think")
    assert plain["stream"] is False
    assert plain["costs"][0]["reasoningTokens"] == 25 and plain["costs"][0]["completionTokens"] == 40
    assert api.get(f"/chat/{plain['id']}").json()["stream"] is False

    frames = list(
        api.stream({"assistant": {"model": {"provider": "openai", "model": "gpt-4o-mini"}}, "input": "Hi"})
    )
    chat_id = next(frame["id"] for frame in frames if isinstance(frame, dict))
    stored = api.get(f"/chat/{chat_id}").json()
    assert stored["stream"] is True and "reasoningTokens" not in stored["costs"][0], "none were reported"
