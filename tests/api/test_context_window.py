"""Conversations longer than the model's context window: truncation, a disabled budget, provider refusals."""

from __future__ import annotations

from typing import Any

import openai
import orjson

from chatloom.domain.tokens import messages_tokens
from chatloom.testing.fake_llm import FakeLLM, FakeReply
from tests.support.client import Api

WINDOW = 400
LIMIT = WINDOW - WINDOW // 4  # the prompt tokens a call may send: a quarter is kept for the answer
PROMPT = {"role": "system", "content": "You are a patient assistant who answers every question briefly."}
PADDING = "with a few more words so that every message weighs something"


def small_model(strategy: str | None = None, **fields: Any) -> dict[str, Any]:
    model: dict[str, Any] = {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "messages": [PROMPT],
        "contextWindowTokens": WINDOW,
        **fields,
    }
    if strategy is not None:
        model["contextManagement"] = {"strategy": strategy}
    return model


def sent_tokens(fake: FakeLLM) -> list[int]:
    return [messages_tokens(request.json["messages"]) for request in fake.requests]


def test_a_long_session_keeps_answering_under_truncate(api: Api, fake_llm: FakeLLM) -> None:
    fake_llm.context_limit_tokens = LIMIT
    assistant = api.create_assistant(model=small_model())
    session = api.post("/session", {"assistantId": assistant["id"]}).json()
    for turn in range(200):
        chat = api.chat(sessionId=session["id"], input=f"question {turn} {PADDING}")
        assert chat["output"][0]["content"] == f"You said: question {turn} {PADDING}"
    assert max(sent_tokens(fake_llm)) <= LIMIT
    last = fake_llm.requests[-1].json["messages"]
    assert last[0] == PROMPT and last[-1]["content"] == f"question 199 {PADDING}"
    assert len(last) < 20, "the oldest history was left out"
    stored = api.get(f"/session/{session['id']}").json()
    assert len(stored["messages"]) == 400, "stored history is never deleted"
    latest = api.get(f"/chat/{chat['id']}").json()
    seen = latest["contextWindow"]["firstMessageIndex"]
    assert len(latest["messages"]) == 399
    assert [m["content"] for m in latest["messages"][seen:]] == [m["content"] for m in last[1:]]
    frames = list(api.stream({"sessionId": session["id"], "input": f"streamed {PADDING}"}))
    assert frames[-1] == "[DONE]" and sent_tokens(fake_llm)[-1] <= LIMIT


def weather_call(call_id: str) -> dict[str, Any]:
    arguments = orjson.dumps({"city": "Oslo"}).decode()
    return {"id": call_id, "type": "function", "function": {"name": "get_weather", "arguments": arguments}}


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def check_tool_pairs(messages: list[dict[str, Any]]) -> None:
    """Every tool result follows its call, and every call has its results."""
    open_calls: set[str] = set()
    for message in messages:
        if message["role"] == "tool":
            assert message["tool_call_id"] in open_calls, f"orphan tool result in {messages}"
            open_calls.discard(message["tool_call_id"])
        else:
            assert not open_calls, f"a tool call without its result in {messages}"
            open_calls.update(call["id"] for call in message.get("tool_calls", []))
    assert not open_calls


def test_truncation_never_splits_a_tool_call_from_its_results(api: Api, fake_llm: FakeLLM) -> None:
    fake_llm.context_limit_tokens = LIMIT
    assistant = api.create_assistant(model=small_model(tools=[WEATHER_TOOL]))
    previous: str | None = None
    for turn in range(40):
        body: dict[str, Any] = {"previousChatId": previous} if previous else {"assistantId": assistant["id"]}
        fake_llm.push(FakeReply(tool_calls=[weather_call(f"call_{turn}")]))
        asked = api.chat(**body, input=f"weather {turn} {PADDING}")
        result = {"role": "tool", "tool_call_id": f"call_{turn}", "content": f"7 degrees {PADDING}"}
        answered = api.chat(previousChatId=asked["id"], input=[result])
        previous = answered["id"]
    for request in fake_llm.requests:
        check_tool_pairs(request.json["messages"])
    assert max(sent_tokens(fake_llm)) <= LIMIT
    assert api.get(f"/chat/{previous}").json()["contextWindow"]["firstMessageIndex"] > 0


def test_disabled_refuses_an_overflow_before_calling_the_model(api: Api, fake_llm: FakeLLM) -> None:
    assistant = api.create_assistant(model=small_model("disabled"))
    session = api.post("/session", {"assistantId": assistant["id"]}).json()
    refused = None
    for turn in range(40):
        response = api.post("/chat", {"sessionId": session["id"], "input": f"question {turn} {PADDING}"})
        if response.status_code != 200:
            refused = response
            break
    assert refused is not None and refused.status_code == 400
    calls = len(fake_llm.requests)
    assert calls == turn, "the refused turn never reached the model"
    message = refused.json()["message"]
    assert f"context window of {WINDOW} tokens" in message and "truncat" in message
    assert max(sent_tokens(fake_llm)) <= LIMIT


def test_a_provider_context_length_error_is_a_400_naming_the_window(api: Api, fake_llm: FakeLLM) -> None:
    fake_llm.context_limit_tokens = 20  # smaller than chatloom believes the window is
    assistant = api.create_assistant(model=small_model())
    response = api.post("/chat", {"assistantId": assistant["id"], "input": f"hello {PADDING} {PADDING}"})
    assert response.status_code == 400, response.text
    message = response.json()["message"]
    assert "maximum context length is 20 tokens" in message
    assert f"window of {WINDOW} tokens" in message and "model.contextWindowTokens" in message
    assert len(fake_llm.requests) == 1, "a context-length refusal is not retried"


def responses_client(api: Api) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{api.base_url}/chat", api_key=api.key, max_retries=0)


def test_responses_truncation_auto_and_disabled(api: Api, fake_llm: FakeLLM) -> None:
    fake_llm.context_limit_tokens = LIMIT
    assistant = api.create_assistant(model=small_model("disabled"))
    client = responses_client(api)
    previous: str | None = None
    for turn in range(30):
        response = client.responses.create(
            model="m",
            input=f"question {turn} {PADDING}",
            stream=False,
            truncation="auto",
            previous_response_id=previous,
            extra_body={} if previous else {"assistantId": assistant["id"]},
        )
        assert response.output_text == f"You said: question {turn} {PADDING}"
        assert response.truncation == "auto"
        previous = response.id
    assert max(sent_tokens(fake_llm)) <= LIMIT
    calls = len(fake_llm.requests)
    try:
        client.responses.create(
            model="m", input="one more", stream=False, truncation="disabled", previous_response_id=previous
        )
    except openai.BadRequestError as error:
        assert f"context window of {WINDOW} tokens" in str(error)
    else:
        raise AssertionError("an overflow with truncation disabled is a 400")
    assert len(fake_llm.requests) == calls


def test_summarize_writes_one_summary_reused_by_later_turns(api: Api, fake_llm: FakeLLM) -> None:
    fake_llm.context_limit_tokens = LIMIT
    assistant = api.create_assistant(model=small_model("summarize"))
    session = api.post("/session", {"assistantId": assistant["id"]}).json()
    summary_text = "The user asked numbered questions."
    summarised = None
    for turn in range(30):
        # Consumed by the summary call when there is one, else it is the turn's answer.
        fake_llm.push(FakeReply(text=summary_text))
        chat = api.chat(sessionId=session["id"], input=f"question {turn} {PADDING}")
        if "contextWindow" in chat:
            summarised = chat
            break
    assert summarised is not None
    assert summarised["output"][0]["content"] == f"You said: question {turn} {PADDING}"
    assert len(summarised["costs"]) == 2, "the summary call is billed to the chat"
    summary = summarised["messages"][summarised["contextWindow"]["summaryIndex"]]
    assert summary["role"] == "system" and summary["content"] == summary_text
    assert summary["metadata"]["contextSummary"]["summarizes"] > 0
    reused = api.chat(sessionId=session["id"], input=f"question {turn + 1} {PADDING}")
    assert len(reused["costs"]) == 1, "the next turn reuses the summary"
    assert reused["contextWindow"]["summaryIndex"] == summarised["contextWindow"]["summaryIndex"]
    summary_calls = [r for r in fake_llm.requests if "Summarise the conversation" in str(r.json["messages"])]
    assert len(summary_calls) == 1
    last = fake_llm.requests[-1].json["messages"]
    assert last[0] == PROMPT and last[1] == {"role": "system", "content": summary_text}
    assert max(sent_tokens(fake_llm)) <= LIMIT
    stored = api.get(f"/session/{session['id']}").json()
    assert len(stored["messages"]) == 2 * (turn + 2) + 1, "the whole conversation and the one summary"


def test_summarize_keeps_a_long_conversation_going(api: Api, fake_llm: FakeLLM) -> None:
    fake_llm.context_limit_tokens = WINDOW - 60
    assistant = api.create_assistant(model=small_model("summarize", maxTokens=60))
    previous = api.chat(assistantId=assistant["id"], input=f"question 0 {PADDING}")
    for turn in range(1, 60):
        previous = api.chat(previousChatId=previous["id"], input=f"question {turn} {PADDING}")
    assert previous["output"][0]["content"] == f"You said: question 59 {PADDING}"
    assert max(sent_tokens(fake_llm)) <= WINDOW - 60
    summaries = [m for m in previous["messages"] if m["role"] == "system"]
    assert 1 <= len(summaries) < 30, "a summary is written only every few turns, not on each"


def test_bad_context_settings_are_400s_naming_the_field(api: Api) -> None:
    bad_strategy = small_model()
    bad_strategy["contextManagement"] = {"strategy": "forget"}
    response = api.post("/assistant", {"model": bad_strategy})
    assert response.status_code == 400 and "model.contextManagement.strategy" in response.text
    response = api.post("/assistant", {"model": small_model(contextWindowTokens=10)})
    assert response.status_code == 400 and "model.contextWindowTokens" in response.text
    assistant = api.create_assistant(model=small_model())
    body = {"input": "hi", "stream": False, "truncation": "sometimes", "assistantId": assistant["id"]}
    response = api.post("/chat/responses", body)
    assert response.status_code == 400 and "truncation" in response.text
