"""Chats and sessions with a squad: the first member answers, a handoff call makes the destination answer
in the same turn, and the next turn goes to whichever assistant is active."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from vapi import Vapi

from chatloom.testing.fake_llm import FakeLLM, FakeReply
from chatloom.testing.http_recorder import HttpRecorder, RecordedCall, Scripted
from tests.support.client import Api


@pytest.fixture(scope="module")
def recorder_server() -> Iterator[HttpRecorder]:
    with HttpRecorder().start() as recorder:
        yield recorder


@pytest.fixture
def recorder(recorder_server: HttpRecorder) -> HttpRecorder:
    recorder_server.reset()
    return recorder_server


def model(prompt: str, **extra: Any) -> dict[str, Any]:
    return {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": prompt}],
        **extra,
    }


def handoff(
    destination: str = "Billing", call_id: str = "h1", name: str = "handoff_to_Billing"
) -> dict[str, Any]:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": f'{{"destination":"{destination}"}}'},
    }


def front_desk(api: Api, plan: dict[str, Any] | None = None) -> dict[str, Any]:
    destination: dict[str, Any] = {"type": "assistant", "assistantName": "Billing", "description": "money"}
    if plan is not None:
        destination["contextEngineeringPlan"] = plan
    receptionist = api.create_assistant(
        name="Receptionist",
        model=model("You are the receptionist.", tools=[{"type": "handoff", "destinations": [destination]}]),
    )
    billing = api.create_assistant(name="Billing", model=model("You are billing.", temperature=0.1))
    response = api.post(
        "/squad",
        {"name": "Desk", "members": [{"assistantId": receptionist["id"]}, {"assistantId": billing["id"]}]},
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def system_prompt(fake_llm: FakeLLM, index: int) -> Any:
    return fake_llm.requests[index].json["messages"][0]["content"]


def test_official_client_squad_hand_off_and_next_turns(api: Api, fake_llm: FakeLLM) -> None:
    client = Vapi(token=api.key, base_url=api.base_url)
    receptionist = client.assistants.create(
        name="Receptionist",
        model={
            "provider": "openai",
            "model": "gpt-4o-mini",
            "messages": [{"role": "system", "content": "You are the receptionist."}],
            "tools": [
                {
                    "type": "handoff",
                    "destinations": [
                        {"type": "assistant", "assistantName": "Billing", "description": "money"}
                    ],
                }
            ],
        },
    )
    billing = client.assistants.create(
        name="Billing",
        model={
            "provider": "openai",
            "model": "gpt-4o-mini",
            "messages": [{"role": "system", "content": "You are billing."}],
        },
    )
    squad = client.squads.create(
        name="Desk", members=[{"assistant_id": receptionist.id}, {"assistant_id": billing.id}]
    )
    fake_llm.push(FakeReply(text="Hello, how can I help?"))
    first = client.chats.create(squad_id=squad.id, input="Hi")
    assert system_prompt(fake_llm, 0) == "You are the receptionist."
    assert first.output[0].content == "Hello, how can I help?"
    tools = fake_llm.requests[0].json["tools"]
    assert tools[0]["function"]["name"] == "handoff_to_Billing"
    assert "1. Billing. When: money" in tools[0]["function"]["description"]
    assert tools[0]["function"]["parameters"]["properties"]["destination"]["enum"] == ["Billing"]

    fake_llm.push(FakeReply(tool_calls=[handoff()]), FakeReply(text="Your invoice is 12 EUR."))
    second = client.chats.create(previous_chat_id=first.id, input="What do I owe?")
    assert second.output[-1].content == "Your invoice is 12 EUR."
    assert system_prompt(fake_llm, 1) == "You are the receptionist."
    assert system_prompt(fake_llm, 2) == "You are billing."
    stored = api.get(f"/chat/{second.id}").json()
    assert [m["role"] for m in stored["output"]] == ["assistant", "tool", "assistant"]
    assert stored["output"][1]["content"].startswith("Handed off to Billing")
    assert stored["squadId"] == squad.id and "assistantId" not in stored
    assert [a["assistantName"] for a in stored["outputAssistants"]] == [
        "Receptionist",
        "Receptionist",
        "Billing",
    ]
    assert stored["activeAssistant"] == {"assistantName": "Billing"}
    assert len(stored["costs"]) == 2

    fake_llm.push(FakeReply(text="Anything else?"))
    third = client.chats.create(previous_chat_id=second.id, input="Thanks")
    assert third.output[0].content == "Anything else?"
    assert system_prompt(fake_llm, 3) == "You are billing."
    listed = api.get("/chat", params={"squadId": squad.id}).json()
    assert {c["id"] for c in listed["results"]} == {first.id, second.id, third.id}


def test_sessions_keep_the_active_assistant(api: Api, fake_llm: FakeLLM) -> None:
    squad = front_desk(api)
    created = api.post("/session", {"squadId": squad["id"]})
    assert created.status_code == 201, created.text
    session = created.json()
    fake_llm.push(
        FakeReply(tool_calls=[handoff()]), FakeReply(text="Billing here."), FakeReply(text="Still billing.")
    )
    first = api.chat(sessionId=session["id"], input="Invoice?")
    assert first["output"][-1]["content"] == "Billing here."
    api.chat(sessionId=session["id"], input="And?")
    assert system_prompt(fake_llm, 2) == "You are billing."
    stored = api.get(f"/session/{session['id']}").json()
    assert stored["activeAssistant"] == {"assistantName": "Billing"} and stored["squadId"] == squad["id"]
    listed = api.get("/session", params={"squadId": squad["id"]}).json()
    assert [s["id"] for s in listed["results"]] == [session["id"]]


@pytest.mark.parametrize(
    ("plan", "expected"),
    [
        (
            None,
            ["user:Earlier", "assistant:Hi there", "user:Pay?", "assistant:", "tool:Handed off to Billing."],
        ),
        (
            {"type": "all"},
            ["user:Earlier", "assistant:Hi there", "user:Pay?", "assistant:", "tool:Handed off to Billing."],
        ),
        (
            {"type": "lastNMessages", "maxMessages": 3},
            ["user:Pay?", "assistant:", "tool:Handed off to Billing."],
        ),
        ({"type": "lastNMessages", "maxMessages": 1}, []),
        ({"type": "userAndAssistantMessages"}, ["user:Earlier", "assistant:Hi there", "user:Pay?"]),
        # The receptionist has answered from the start: nothing came before it.
        ({"type": "previousAssistantMessages"}, []),
        ({"type": "none"}, []),
    ],
)
def test_context_engineering_plans(
    api: Api, fake_llm: FakeLLM, plan: dict[str, Any] | None, expected: list[str]
) -> None:
    squad = front_desk(api, plan)
    fake_llm.push(FakeReply(text="Hi there"))
    first = api.chat(squadId=squad["id"], input="Earlier")
    fake_llm.push(FakeReply(tool_calls=[handoff()]), FakeReply(text="Billing."))
    api.chat(previousChatId=first["id"], input="Pay?")
    sent = fake_llm.requests[-1].json["messages"]
    assert sent[0] == {"role": "system", "content": "You are billing."}
    assert [f"{m['role']}:{m.get('content') or ''}" for m in sent[1:]] == expected


def test_previous_assistant_messages_keep_the_handing_off_assistants_part_away(
    api: Api, fake_llm: FakeLLM
) -> None:
    """Receptionist → Payment (which asks for the card) → Confirmation with `previousAssistantMessages`:
    Confirmation sees what came before Payment took over, and nothing Payment said or received, in the
    turn it took over or later."""
    to_confirmation = {
        "type": "handoff",
        "destinations": [
            {
                "type": "assistant",
                "assistantName": "Confirmation",
                "contextEngineeringPlan": {"type": "previousAssistantMessages"},
            }
        ],
    }
    to_payment = {"type": "handoff", "destinations": [{"type": "assistant", "assistantName": "Payment"}]}
    receptionist = api.create_assistant(name="Receptionist", model=model("Greet.", tools=[to_payment]))
    payment = api.create_assistant(name="Payment", model=model("Take the card.", tools=[to_confirmation]))
    confirmation = api.create_assistant(name="Confirmation", model=model("Confirm."))
    members = [{"assistantId": a["id"]} for a in (receptionist, payment, confirmation)]
    squad = api.post("/squad", {"members": members}).json()
    fake_llm.push(FakeReply(text="Welcome!"))
    first = api.chat(squadId=squad["id"], input="Hello")
    fake_llm.push(
        FakeReply(tool_calls=[handoff("Payment", "h1", "handoff_to_Payment")]),
        FakeReply(text="Your card number, please?"),
    )
    second = api.chat(previousChatId=first["id"], input="I want to pay")
    fake_llm.push(
        FakeReply(tool_calls=[handoff("Confirmation", "h2", "handoff_to_Confirmation")]),
        FakeReply(text="All done."),
    )
    third = api.chat(previousChatId=second["id"], input="4111 1111 1111 1111")
    assert third["output"][-1]["content"] == "All done."
    sent = fake_llm.requests[-1].json["messages"]
    assert sent[0] == {"role": "system", "content": "Confirm."}
    shown = [f"{m['role']}:{m.get('content') or ''}" for m in sent[1:]]
    assert shown == [
        "user:Hello",
        "assistant:Welcome!",
        "user:I want to pay",
        "assistant:",
        "tool:Handed off to Payment.",
    ]
    assert all("metadata" not in message for message in sent), "the hand-off mark is not sent to models"


def test_dynamic_destination_is_asked_and_used(api: Api, fake_llm: FakeLLM, recorder: HttpRecorder) -> None:
    billing = api.create_assistant(name="Billing", model=model("You are billing."))

    def answer(call: RecordedCall) -> Scripted:
        assert call.json["message"]["type"] == "handoff-destination-request"
        assert call.json["message"]["parameters"]["reason"] == "invoice"
        return Scripted(json={"destination": {"type": "assistant", "assistantId": billing["id"]}})

    recorder.on("/handoff", answer)
    tool = {
        "type": "handoff",
        "destinations": [{"type": "dynamic", "server": {"url": f"{recorder.url}/handoff"}}],
    }
    receptionist = api.create_assistant(name="Receptionist", model=model("You route.", tools=[tool]))
    call = {
        "id": "d1",
        "type": "function",
        "function": {"name": "handoff", "arguments": '{"destination":"dynamic","reason":"invoice"}'},
    }
    fake_llm.push(
        FakeReply(tool_calls=[call]), FakeReply(text="Billing answers."), FakeReply(text="Again billing.")
    )
    chat = api.chat(assistantId=receptionist["id"], input="Invoice")
    assert chat["output"][-1]["content"] == "Billing answers."
    assert system_prompt(fake_llm, 1) == "You are billing."
    assert len(recorder.calls_to("/handoff")) == 1
    assert chat["assistantId"] == receptionist["id"] and chat["activeAssistant"] == {
        "assistantId": billing["id"]
    }
    api.chat(previousChatId=chat["id"], input="more")
    assert system_prompt(fake_llm, 2) == "You are billing."

    recorder.on("/handoff", lambda _call: Scripted(json={"error": "nobody is free"}))
    fake_llm.push(FakeReply(tool_calls=[call]), FakeReply(text="Sorry."))
    refused = api.chat(assistantId=receptionist["id"], input="Invoice")
    assert "nobody is free" in refused["output"][1]["content"]
    assert system_prompt(fake_llm, 4) == "You route."


def test_unknown_destination_and_limit_give_error_results(api: Api, fake_llm: FakeLLM) -> None:
    squad = front_desk(api)
    fake_llm.push(FakeReply(tool_calls=[handoff("Nobody")]), FakeReply(text="Let me help myself."))
    chat = api.chat(squadId=squad["id"], input="x")
    assert chat["output"][1]["content"].startswith("Error: there is no hand-off destination 'Nobody'")
    assert system_prompt(fake_llm, 1) == "You are the receptionist."

    # Two receptionists handing off to each other: the sixth hand-off in one turn is refused.
    ping_tool = {"type": "handoff", "destinations": [{"type": "assistant", "assistantName": "Pong"}]}
    pong_tool = {"type": "handoff", "destinations": [{"type": "assistant", "assistantName": "Ping"}]}
    members = [
        {"assistant": {"name": "Ping", "model": model("ping", tools=[ping_tool])}},
        {"assistant": {"name": "Pong", "model": model("pong", tools=[pong_tool])}},
    ]
    fake_llm.reset()
    fake_llm.push(
        *(
            FakeReply(
                tool_calls=[
                    handoff(
                        "Pong" if i % 2 == 0 else "Ping",
                        f"h{i}",
                        "handoff_to_Pong" if i % 2 == 0 else "handoff_to_Ping",
                    )
                ]
            )
            for i in range(6)
        ),
        FakeReply(text="done"),
    )
    chat = api.chat(squad={"members": members}, input="go")
    results = [m["content"] for m in chat["output"] if m["role"] == "tool"]
    assert results[:5] == ["Handed off to Pong.", "Handed off to Ping."] * 2 + ["Handed off to Pong."]
    assert "limit of 5 hand-offs" in results[5]
    assert (
        chat["output"][-1]["content"] == "done" and chat["squad"]["members"][0]["assistant"]["name"] == "Ping"
    )


def test_streaming_across_a_hand_off(api: Api, fake_llm: FakeLLM) -> None:
    squad = front_desk(api)
    fake_llm.push(
        FakeReply(text="One moment.", tool_calls=[handoff()]),
        FakeReply(text="Billing: 12 EUR.", chunks=["Billing:", " 12 EUR."]),
    )
    frames = list(api.stream({"squadId": squad["id"], "input": "owe?"}))
    deltas = [(f["path"], f["delta"]) for f in frames[:-1] if "delta" in f]
    assert deltas[-2:] == [("chat.output[2].content", "Billing:"), ("chat.output[2].content", " 12 EUR.")]
    assert {path for path, _ in deltas[:-2]} == {"chat.output[0].content"}
    stored = api.get(f"/chat/{frames[0]['id']}").json()
    assert stored["output"][2]["content"] == "Billing: 12 EUR."
    assert stored["outputAssistants"][2]["assistantName"] == "Billing"


def test_bad_squads_in_chats(api: Api, other_api: Api) -> None:
    squad = front_desk(api)
    assert other_api.post("/chat", {"squadId": squad["id"], "input": "hi"}).status_code == 404
    assert other_api.post("/session", {"squadId": squad["id"]}).status_code == 404
    theirs = other_api.create_assistant(name="Theirs")
    response = api.post("/chat", {"squad": {"members": [{"assistantId": theirs["id"]}]}, "input": "hi"})
    assert response.status_code == 400 and "members[0].assistantId" in response.json()["message"]
    response = api.post("/chat", {"squadId": squad["id"], "assistantId": theirs["id"], "input": "hi"})
    assert response.status_code == 400


def test_member_destinations_overrides_and_handoff_server_messages(
    api: Api, fake_llm: FakeLLM, recorder: HttpRecorder
) -> None:
    server = {"url": f"{recorder.url}/events"}
    members = [
        {
            "assistant": {
                "name": "Front",
                "model": model("Front for {{ company }}."),
                "server": server,
                "serverMessages": ["handoff"],
            },
            "assistantDestinations": [
                {
                    "type": "assistant",
                    "assistantName": "Back",
                    "assistantOverrides": {"variableValues": {"team": "refunds"}},
                }
            ],
        },
        {"assistant": {"name": "Back", "model": model("Back {{ team }} for {{ company }}.")}},
    ]
    squad = {"members": members, "membersOverrides": {"variableValues": {"company": "Acme"}}}
    fake_llm.push(
        FakeReply(tool_calls=[handoff("Back", name="handoff_to_Back")]), FakeReply(text="Back here.")
    )
    chat = api.chat(squad=squad, input="refund")
    assert system_prompt(fake_llm, 0) == "Front for Acme."
    assert system_prompt(fake_llm, 1) == "Back refunds for Acme."
    assert chat["output"][-1]["content"] == "Back here."
    event = recorder.wait_for(1, "/events")[0].json["message"]
    assert event["type"] == "handoff"
    assert event["source"] == {"assistantName": "Front"} and event["destination"] == {"assistantName": "Back"}
