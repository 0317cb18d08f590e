"""Custom knowledge bases: `query` tools and `model.knowledgeBase`, answered by a real loopback server
that receives Vapi's `knowledge-base-request`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest
from vapi.core.pydantic_utilities import parse_obj_as
from vapi.types.bot_message import BotMessage
from vapi.types.server_message_knowledge_base_request import ServerMessageKnowledgeBaseRequest
from vapi.types.user_message import UserMessage

from chatloom.outbound.signing import signature
from chatloom.testing.fake_llm import FakeLLM, FakeReply
from chatloom.testing.http_recorder import HttpRecorder, Scripted
from tests.support.client import Api

DOCUMENTS = {
    "documents": [
        {"content": "Returns are accepted within 30 days.", "similarity": 0.92, "uuid": "d1"},
        {"content": "Refunds take 5 business days.", "similarity": 0.61},
    ]
}


@pytest.fixture(scope="module")
def recorder_server() -> Iterator[HttpRecorder]:
    with HttpRecorder().start() as recorder:
        yield recorder


@pytest.fixture
def kb(recorder_server: HttpRecorder) -> HttpRecorder:
    recorder_server.reset()
    return recorder_server


def knowledge_base(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "provider": "custom-knowledge-base",
        "name": "policies",
        "description": "Store policies",
        "server": {"url": url, "timeoutSeconds": 2, "secret": "kb-secret"},
        **extra,
    }


def query_tool(api: Api, url: str) -> dict[str, Any]:
    response = api.post("/tool", {"type": "query", "knowledgeBases": [knowledge_base(url)]})
    assert response.status_code == 201, response.text
    return dict(response.json())


def query_call(query: str = "return policy") -> dict[str, Any]:
    arguments = f'{{"query": "{query}"}}'
    return {
        "id": "call_1",
        "type": "function",
        "function": {"name": "query_policies", "arguments": arguments},
    }


def vapi_request(body: Any) -> ServerMessageKnowledgeBaseRequest:
    """The request as Vapi's own SDK reads it (fails on a shape it does not know)."""
    message = parse_obj_as(ServerMessageKnowledgeBaseRequest, body["message"])
    assert message.type == "knowledge-base-request"
    assert all(isinstance(item, UserMessage | BotMessage) for item in message.messages or [])
    return message


def test_query_tool(api: Api, fake_llm: FakeLLM, kb: HttpRecorder) -> None:
    kb.script("/kb", Scripted(json=DOCUMENTS))
    tool = query_tool(api, f"{kb.url}/kb")
    assistant = api.create_assistant(
        model={"provider": "openai", "model": "gpt-4o-mini", "toolIds": [tool["id"]]}
    )
    fake_llm.push(FakeReply(tool_calls=[query_call()]), FakeReply(text="You have 30 days."))
    chat = api.chat(assistantId=assistant["id"], input="Can I return my lamp?")

    offered = fake_llm.requests[0].json["tools"][0]["function"]
    assert offered["name"] == "query_policies"
    assert offered["parameters"]["required"] == ["query"]
    assert "Store policies" in offered["description"]
    (received,) = kb.calls_to("/kb")
    message = vapi_request(received.json)
    assert received.json["message"]["query"] == "return policy"
    assert [m.role for m in message.messages_open_ai_formatted] == ["user", "assistant"], "with the call"
    assert received.json["message"]["messages"][0]["message"] == "Can I return my lamp?"
    assert received.json["message"]["chat"]["id"] == chat["id"]
    timestamp = received.headers["X-Chatloom-Timestamp"]
    assert received.headers["X-Chatloom-Signature"] == signature("kb-secret", timestamp, received.body)
    result = chat["output"][1]["content"]
    assert "Returns are accepted within 30 days." in result and "Refunds take 5 business days." in result
    tool_message = next(m for m in fake_llm.requests[-1].json["messages"] if m["role"] == "tool")
    assert tool_message["content"] == result
    assert chat["output"][-1]["content"] == "You have 30 days."


def test_query_tool_failure_is_an_error_result(api: Api, fake_llm: FakeLLM, kb: HttpRecorder) -> None:
    kb.script("/kb", Scripted(status=500, json={"error": "down"}))
    tool = query_tool(api, f"{kb.url}/kb")
    assistant = api.create_assistant(
        model={"provider": "openai", "model": "gpt-4o-mini", "toolIds": [tool["id"]]}
    )
    fake_llm.push(FakeReply(tool_calls=[query_call()]), FakeReply(text="Sorry."))
    chat = api.chat(assistantId=assistant["id"], input="Can I return my lamp?")
    assert chat["output"][1]["content"] == "Error: the knowledge base answered HTTP 500"
    assert chat["output"][-1]["content"] == "Sorry."


def grounded_assistant(api: Api, url: str) -> dict[str, Any]:
    model = {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": "You are the store's assistant."}],
        "knowledgeBase": {"provider": "custom-knowledge-base", "server": {"url": url}},
    }
    return api.create_assistant(model=model)


@pytest.mark.parametrize("stream", [False, True])
def test_model_knowledge_base_documents_reach_the_model(
    api: Api, fake_llm: FakeLLM, kb: HttpRecorder, stream: bool
) -> None:
    kb.script("/kb", Scripted(json=DOCUMENTS))
    assistant = grounded_assistant(api, f"{kb.url}/kb")
    fake_llm.push(FakeReply(text="Within 30 days."))
    body = {"assistantId": assistant["id"], "input": "How long do I have to return a lamp?"}
    if stream:
        frames = list(api.stream(body))
        chat = api.get(f"/chat/{frames[0]['id']}").json()
    else:
        chat = api.chat(**body)

    (received,) = kb.calls_to("/kb")
    message = vapi_request(received.json)
    assert received.json["message"]["query"] == "How long do I have to return a lamp?"
    assert [m.role for m in message.messages_open_ai_formatted] == ["user"]
    sent = fake_llm.requests[0].json["messages"]
    assert [m["role"] for m in sent] == ["system", "system", "user"]
    assert "Returns are accepted within 30 days." in sent[1]["content"]
    assert "tools" not in fake_llm.requests[0].json or not fake_llm.requests[0].json["tools"]
    assert chat["output"] == [{"role": "assistant", "content": "Within 30 days."}]
    assert chat["messages"] == [{"role": "user", "content": "How long do I have to return a lamp?"}]


def test_model_knowledge_base_message_is_the_reply(api: Api, fake_llm: FakeLLM, kb: HttpRecorder) -> None:
    kb.script(
        "/kb", Scripted(json={"message": {"role": "assistant", "content": "30 days, no questions asked."}})
    )
    assistant = grounded_assistant(api, f"{kb.url}/kb")
    session = api.post("/session", {"assistantId": assistant["id"]}).json()
    frames = list(api.stream({"sessionId": session["id"], "input": "Return window?"}))
    assert frames[-1] == "[DONE]"
    chat = api.get(f"/chat/{frames[0]['id']}").json()
    assert chat["output"] == [{"role": "assistant", "content": "30 days, no questions asked."}]
    assert chat["cost"] == 0
    assert fake_llm.requests == [], "no model call"
    messages = api.get(f"/session/{session['id']}").json()["messages"]
    assert messages[-1]["content"] == "30 days, no questions asked."


def test_a_failing_knowledge_base_does_not_stop_the_turn(
    api: Api, fake_llm: FakeLLM, kb: HttpRecorder
) -> None:
    kb.script("/kb", Scripted(status=503))
    assistant = grounded_assistant(api, f"{kb.url}/kb")
    fake_llm.push(FakeReply(text="Let me think."))
    chat = api.chat(assistantId=assistant["id"], input="Return window?")
    assert chat["output"][-1]["content"] == "Let me think."
    assert [m["role"] for m in fake_llm.requests[0].json["messages"]] == ["system", "user"]


@pytest.mark.parametrize(
    ("base", "field"),
    [
        ({"provider": "google", "name": "kb", "fileIds": ["f1"]}, "knowledgeBases[0].fileIds"),
        ({"provider": "google", "name": "kb"}, "knowledgeBases[0]"),
        ({"provider": "trieve", "name": "kb", "fileIds": ["f1"]}, "knowledgeBases[0].provider"),
        (
            {"provider": "custom-knowledge-base", "fileIds": ["f1"], "server": {"url": "https://kb.test"}},
            "knowledgeBases[0]",
        ),
    ],
)
def test_refused_query_knowledge_bases_name_the_field(api: Api, base: dict[str, Any], field: str) -> None:
    response = api.post("/tool", {"type": "query", "knowledgeBases": [base]})
    assert response.status_code == 400
    assert any(str(m).startswith(f"{field}") for m in _messages(response.json())), response.json()


def test_file_knowledge_bases_are_query_tools_not_model_settings(api: Api) -> None:
    base = {"provider": "google", "name": "kb", "description": "d", "fileIds": ["f1"]}
    model = {"provider": "openai", "model": "m", "knowledgeBase": base}
    refused = api.post("/assistant", {"model": model})
    assert refused.status_code == 400 and "model.knowledgeBase" in str(refused.json()["message"])


def _messages(body: dict[str, Any]) -> list[Any]:
    message = body["message"]
    return message if isinstance(message, list) else [message]


def test_a_custom_knowledge_base_needs_a_server(api: Api) -> None:
    base = {"provider": "custom-knowledge-base"}
    response = api.post("/assistant", {"model": {"provider": "openai", "model": "m", "knowledgeBase": base}})
    assert response.status_code == 400 and "server.url" in str(response.json()["message"])


def test_another_orgs_query_tool_cannot_be_used(api: Api, other_api: Api) -> None:
    foreign = query_tool(other_api, "https://kb.example.com/kb")
    body = {"model": {"provider": "openai", "model": "m", "toolIds": [foreign["id"]]}}
    response = api.post("/assistant", body)
    assert response.status_code == 400
    assert response.json()["message"] == f"model.toolIds[0]: tool {foreign['id']} not found"


@pytest.mark.parametrize("stream", [False, True])
def test_responses_api(api: Api, fake_llm: FakeLLM, kb: HttpRecorder, stream: bool) -> None:
    kb.script(
        "/kb",
        Scripted(json=DOCUMENTS),
        Scripted(json={"message": {"role": "assistant", "content": "30 days."}}),
    )
    assistant = grounded_assistant(api, f"{kb.url}/kb")
    client = openai.OpenAI(base_url=f"{api.base_url}/chat", api_key=api.key, max_retries=0)
    fake_llm.push(FakeReply(text="Within 30 days."))
    texts = []
    for question in ("How long to return?", "And again?"):
        body: dict[str, Any] = {
            "model": "m",
            "input": question,
            "extra_body": {"assistantId": assistant["id"]},
        }
        if stream:
            with client.responses.stream(**body) as events:
                texts.append(events.get_final_response().output_text)
        else:
            texts.append(client.responses.create(stream=False, **body).output_text)
    assert texts == ["Within 30 days.", "30 days."]
    assert len(fake_llm.requests) == 1, "the second reply came from the knowledge base"
    assert "Returns are accepted within 30 days." in fake_llm.requests[0].json["messages"][1]["content"]
