"""Hand-offs within a turn: the engine answers handoff tool calls itself, picks the destination (a squad
member by name, a stored assistant by id, an inline assistant, or what a dynamic destination's server
names), and says which messages the destination is given (its `contextEngineeringPlan`).

Only turns whose assistant has a handoff tool, or that belong to a squad, carry a `HandoffState`; a plain
chat pays nothing. A failed hand-off is an error result the model sees; the turn goes on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chatloom.domain.messages import INSTRUCTION_ROLES, Message, ToolCall
from chatloom.engine.calls.toolbox import HANDOFF, Toolbox, destination_label
from chatloom.engine.squads.members import Agent, Squad, find_agent
from chatloom.store.db import Database
from chatloom.tools.calls import ToolResult, arguments_of, error_result
from chatloom.tools.handoff import HandoffDestinationClient


@dataclass(slots=True)
class HandoffState:
    """What a turn that may hand off keeps: the squad, who answers now, and who wrote what."""

    squad: Squad | None
    agent: Agent
    request_overrides: dict[str, Any] | None
    conversation: list[Message]
    """The messages before the turn's output: history and input (what a plan picks from)."""
    count: int = 0
    writers: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    """(first output index, assistant) for each assistant that answered in this turn, in order."""

    def taken_over_at(self) -> int:
        """Where, in the conversation followed by this turn's output, the assistant answering now took
        over: at its hand-off in this turn, else where the latest earlier hand-off left it."""
        if len(self.writers) > 1:
            return len(self.conversation) + self.writers[-1][0]
        return taken_over_at(self.conversation)

    def output_assistants(self, length: int) -> list[dict[str, Any]]:
        """Who wrote each of `length` output messages."""
        labels: list[dict[str, Any]] = []
        for index, (start, label) in enumerate(self.writers):
            end = self.writers[index + 1][0] if index + 1 < len(self.writers) else length
            labels.extend(label for _ in range(start, end))
        return labels


@dataclass(slots=True)
class Switch:
    agent: Agent
    plan: dict[str, Any]
    source: Agent


HANDOFF_MARK = "handoff"
"""The `metadata` key of a hand-off's tool result: where the destination took the conversation over."""


def context_for(
    plan: Mapping[str, Any] | None, messages: list[Message], taken_over_at: int = 0
) -> list[Message]:
    """The conversation messages the destination assistant is given, by its `contextEngineeringPlan`:
    `all` (the default), `lastNMessages` (`maxMessages`; a tool result cut off from its call is left
    out), `userAndAssistantMessages` (their text, without tool calls and results),
    `previousAssistantMessages` (what came before the handing-off assistant took over, at
    `taken_over_at`: nothing it said or received), `none`."""
    kind = (plan or {}).get("type", "all")
    if kind == "previousAssistantMessages":
        return [m for m in messages[:taken_over_at] if m["role"] not in INSTRUCTION_ROLES]
    conversation = [m for m in messages if m["role"] not in INSTRUCTION_ROLES]
    if kind == "none":
        return []
    if kind == "lastNMessages":
        count = int((plan or {}).get("maxMessages") or 0)
        picked = conversation[-count:] if count > 0 else []
        while picked and picked[0]["role"] == "tool":
            picked = picked[1:]
        return picked
    if kind == "userAndAssistantMessages":
        return [
            {"role": m["role"], "content": m["content"]}
            for m in conversation
            if m["role"] in ("user", "assistant")
            and isinstance(m.get("content"), str | list)
            and m.get("content")
        ]
    return list(messages)


def taken_over_at(messages: list[Message]) -> int:
    """Where the assistant answering now took `messages` over: just after the round of tool results that
    holds the latest hand-off (0 when no hand-off happened: it has answered from the start)."""
    for index in range(len(messages) - 1, -1, -1):
        metadata = messages[index].get("metadata")
        if isinstance(metadata, dict) and HANDOFF_MARK in metadata:
            end = index + 1
            while end < len(messages) and messages[end]["role"] == "tool":
                end += 1
            return end
    return 0


class Handoffs:
    def __init__(self, db: Database, destinations: HandoffDestinationClient, max_per_turn: int) -> None:
        self.db = db
        self.destinations = destinations
        self.max_per_turn = max_per_turn

    async def run_round(
        self,
        state: HandoffState,
        org_id: str,
        toolbox: Toolbox,
        calls: list[ToolCall],
        chat: Mapping[str, Any],
        assistant: Mapping[str, Any],
        others: Callable[[list[ToolCall]], Awaitable[tuple[list[ToolResult], bool]]],
    ) -> tuple[list[Message], Switch | None, bool]:
        """One round of tool calls of which some hand off: those are answered here, the rest by
        `others`. Returns the results in call order, the hand-off to make (the first that succeeded),
        and whether the turn goes on (no call is left to the client)."""
        handoff_calls = [
            c for c in calls if toolbox.by_name.get(c["function"]["name"], {}).get("type") == HANDOFF
        ]
        rest = [c for c in calls if c not in handoff_calls]
        results: dict[str, ToolResult] = {}
        goes_on = True
        if rest:
            done, goes_on = await others(rest)
            results.update((r.call["id"], r) for r in done)
        switch: Switch | None = None
        marked: str | None = None
        for call in handoff_calls:
            if switch is not None:
                results[call["id"]] = error_result(call, "another hand-off was made in this round")
                continue
            if state.count >= self.max_per_turn:
                limit = f"the limit of {self.max_per_turn} hand-offs per chat turn was reached"
                results[call["id"]] = error_result(call, limit)
                continue
            tool = toolbox.by_name[call["function"]["name"]]
            found = await self._destination(state, org_id, tool, call, chat, assistant)
            if isinstance(found, str):
                results[call["id"]] = error_result(call, found)
                continue
            agent, plan = found
            state.count += 1
            switch = Switch(agent, plan, state.agent)
            name = agent.assistant.get("name") or agent.assistant_id or "the next assistant"
            default = tool.get("defaultResult")
            text = default if isinstance(default, str) and default else f"Handed off to {name}."
            results[call["id"]] = ToolResult(call, text)
            marked = call["id"]
        messages = [results[c["id"]].message() for c in calls if c["id"] in results]
        if switch is not None:  # the destination takes over after this round's results
            for message in messages:
                if message.get("tool_call_id") == marked:
                    message["metadata"] = {HANDOFF_MARK: {"destination": switch.agent.label}}
        return messages, switch, goes_on

    async def _destination(
        self,
        state: HandoffState,
        org_id: str,
        tool: Mapping[str, Any],
        call: ToolCall,
        chat: Mapping[str, Any],
        assistant: Mapping[str, Any],
    ) -> tuple[Agent, dict[str, Any]] | str:
        """The destination the call names, or why there is none."""
        arguments = arguments_of(call)
        wanted = arguments.get("destination")
        destinations = [d for d in tool.get("destinations") or [] if isinstance(d, dict)]
        chosen = next((d for d in destinations if destination_label(d) == wanted), None)
        if chosen is None and len(destinations) == 1 and wanted in (None, "", "dynamic"):
            chosen = destinations[0]
        if chosen is None:
            return f"there is no hand-off destination {wanted!r}" if wanted else "no destination was given"
        if chosen.get("type") == "dynamic":
            server = next(
                (
                    s
                    for s in (chosen.get("server"), tool.get("server"), assistant.get("server"))
                    if isinstance(s, dict) and s.get("url")
                ),
                None,
            )
            if server is None:
                return "the dynamic destination has no server to ask"
            parameters = {k: v for k, v in arguments.items()}
            answer = await self.destinations.ask(server, parameters, chat, assistant)
            if answer.destination is None:
                return answer.error or "the hand-off server named no destination"
            chosen = answer.destination
            if chosen.get("type", "assistant") != "assistant":
                return "the hand-off server's destination is not an assistant"
        async with self.db.read() as conn:
            agent = await find_agent(conn, org_id, state.squad, chosen)
        if agent is None or not isinstance(agent.assistant.get("model"), dict):
            return f"the destination {destination_label(chosen)!r} is not an assistant of this squad or org"
        plan = chosen.get("contextEngineeringPlan")
        return agent, plan if isinstance(plan, dict) else {"type": "all"}
