"""The turn's stages in-process, against a scripted provider: reading and planning, the model/tool loop's
steps (client tools, the round limit, hand-offs), fitting the context window, and a lost lease."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import update

from chatloom.domain.errors import SessionBusy
from chatloom.domain.events import TurnCompleted, TurnDelta, TurnFailed, TurnToolCalls
from chatloom.domain.ids import utc_now
from chatloom.providers.base import ModelRequest
from chatloom.store import leases
from chatloom.store.documents import ListQuery
from chatloom.store.tables import sessions
from chatloom.testing.http_recorder import HttpRecorder, Scripted
from tests.support.engine_world import OPENAI, call, reply, run, world


def model(prompt: str, **extra: Any) -> dict[str, Any]:
    return {**OPENAI, "messages": [{"role": "system", "content": prompt}], **extra}


def function_tool(name: str, server: str | None = None) -> dict[str, Any]:
    tool: dict[str, Any] = {
        "type": "function",
        "function": {"name": name, "parameters": {"type": "object", "properties": {}}},
    }
    if server is not None:
        tool["server"] = {"url": server}
    return tool


def test_a_turn_sends_prompt_history_and_input_and_stores_its_chat(backend: str) -> None:
    async def scenario() -> None:
        async with world(backend) as w:
            assistant = await w.assistant(model=model("You help {{ name }}."))
            w.provider.push(reply("Hello Ada."))
            overrides = {"variableValues": {"name": "Ada"}}
            first = await w.chat(assistant_id=assistant["id"], input="Hi", assistant_overrides=overrides)
            assert w.provider.sent() == ["system:You help Ada.", "user:Hi"]
            second = await w.chat(previous_chat_id=first["id"], input="Again")
            assert w.provider.sent() == [
                "system:You help Ada.",
                "user:Hi",
                "assistant:Hello Ada.",
                "user:Again",
            ]
            stored = await w.services.chats.get(w.org_id, second["id"])
            assert stored["messages"][-1] == {"role": "user", "content": "Again"}
            assert stored["output"] == [{"role": "assistant", "content": "You said: Again"}]

    run(backend, scenario)


def test_client_tools_end_the_turn(backend: str) -> None:
    async def scenario() -> None:
        async with world(backend) as w:
            assistant = await w.assistant(model=model("Act.", tools=[function_tool("lookup")]))
            w.provider.push(reply(tool_calls=[call("lookup")]))
            events, last = await w.turn(assistant_id=assistant["id"], input="Look it up")
            assert isinstance(last, TurnCompleted) and len(w.provider.requests) == 1
            assert [type(e).__name__ for e in events] == ["TurnStarted", "TurnToolCalls", "TurnCompleted"]
            assert last.output == [{"role": "assistant", "content": None, "tool_calls": [call("lookup")]}]

    run(backend, scenario)


def test_the_round_limit_answers_the_last_calls_with_an_error(backend: str) -> None:
    async def scenario() -> None:
        with HttpRecorder().start() as tools:
            tools.on("/t", lambda c: Scripted(json={"results": [{"result": "42"}]}))
            async with world(backend, max_tool_rounds=1) as w:
                tool = function_tool("lookup", f"{tools.url}/t")
                assistant = await w.assistant(model=model("Act.", tools=[tool]))
                w.provider.push(reply(tool_calls=[call("lookup", call_id="a")]))
                w.provider.push(reply(tool_calls=[call("lookup", call_id="b")]))
                events, last = await w.turn(assistant_id=assistant["id"], input="Go")
        assert isinstance(last, TurnCompleted)
        assert [len(r.tools) for r in w.provider.requests] == [1, 0], "the last round offers no tools"
        assert [m.get("content") for m in last.output if m["role"] == "tool"] == [
            "42",
            "Error: the limit of 1 tool rounds per chat turn was reached",
        ]
        assert sum(isinstance(e, TurnToolCalls) for e in events) == 2

    run(backend, scenario)


def test_a_hand_off_switches_the_speaker_in_the_same_turn(backend: str) -> None:
    async def scenario() -> None:
        async with world(backend) as w:
            destination = {"type": "assistant", "assistantName": "Billing"}
            receptionist = await w.assistant(
                name="Receptionist",
                model=model("Route.", tools=[{"type": "handoff", "destinations": [destination]}]),
            )
            billing = await w.assistant(name="Billing", model=model("You are billing.", temperature=0.1))
            members = [{"assistantId": receptionist["id"]}, {"assistantId": billing["id"]}]
            squad = await w.services.squads.create(w.org_id, {"members": members})
            w.provider.push(reply(tool_calls=[call("handoff_to_Billing", '{"destination":"Billing"}')]))
            w.provider.push(reply("Billing here."))
            events, last = await w.turn(squad_id=squad["id"], input="Invoice?", stream=True)
        assert isinstance(last, TurnCompleted)
        first, second = w.provider.requests
        assert (
            first.messages[0]["content"] == "Route." and second.messages[0]["content"] == "You are billing."
        )
        assert second.temperature == 0.1 and [t["function"]["name"] for t in first.tools] == [
            "handoff_to_Billing"
        ]
        assert last.chat["activeAssistant"] == {"assistantName": "Billing"}
        assert last.chat["outputAssistants"] == [
            {"assistantId": receptionist["id"], "assistantName": "Receptionist"},
            {"assistantId": receptionist["id"], "assistantName": "Receptionist"},
            {"assistantId": billing["id"], "assistantName": "Billing"},
        ]
        deltas = [e for e in events if isinstance(e, TurnDelta)]
        assert [(d.output_index, d.text) for d in deltas] == [(2, "Billing here.")]

    run(backend, scenario)


def test_history_beyond_the_window_is_left_out_oldest_first(backend: str) -> None:
    async def scenario() -> None:
        async with world(backend) as w:
            window = {"contextWindowTokens": 600, "maxTokens": 100}
            assistant = await w.assistant(model=model("Be brief.", **window))
            chat = await w.chat(assistant_id=assistant["id"], input="a" * 700)
            for index in range(3):
                chat = await w.chat(previous_chat_id=chat["id"], input=f"message {index} " + "b" * 400)
            sent = w.provider.sent()
        assert sent[0] == "system:Be brief." and sent[-1].startswith("user:message 2 ")
        assert not any("aaaa" in line for line in sent), "the oldest history went first"
        assert chat["contextWindow"]["firstMessageIndex"] >= 2

    run(backend, scenario)


def test_a_turn_whose_lease_was_taken_over_is_not_stored(backend: str) -> None:
    async def scenario() -> None:
        async with world(backend) as w:
            assistant = await w.assistant(model=model("Hi."))
            session = await w.services.sessions.create(w.org_id, {"assistantId": assistant["id"]})

            async def taken_over(request: ModelRequest) -> Any:
                # While the model "thinks", the turn's lease lapses and another turn takes the session.
                async with w.db.write() as conn:
                    await conn.execute(
                        update(sessions).where(sessions.c.id == session["id"]).values(lease_until=utc_now())
                    )
                later = utc_now() + timedelta(seconds=30)
                state, _ = await leases.try_lease(w.db, w.org_id, session["id"], "other", utc_now(), later)
                assert state == "acquired"
                return reply("Too late.")

            w.provider.push(taken_over)
            _, last = await w.turn(session_id=session["id"], input="Hello")
            assert isinstance(last, TurnFailed) and isinstance(last.error, SessionBusy)
            stored = await w.services.sessions.get(w.org_id, session["id"])
            assert stored["messages"] == [] and stored["costs"] == []
            page = await w.services.chats.page(w.org_id, ListQuery(limit=10))
            assert page.items == [], "nothing of the turn was stored"

    run(backend, scenario)
