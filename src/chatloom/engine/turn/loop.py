"""The turn's "loop" stage: model call → `NextStep` → ..., until the model answers, the round limit is
reached, or calls are left to the client. Each step is a value (`CallModel`, `RunTools`, `HandOff`,
`LeftToClient`, `Final`); what the turn accumulates (output, billed calls, the assistant answering now,
its window, hand-off bookkeeping) lives in one `LoopState` that only this loop changes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from chatloom.domain.attachments import shown_document
from chatloom.domain.encoded_messages import EncodedMessages
from chatloom.domain.errors import UpstreamError
from chatloom.domain.events import ModelReply, TextChunk, TurnDelta, TurnEvent, TurnToolCalls
from chatloom.domain.ids import iso
from chatloom.domain.messages import Message, ToolCall
from chatloom.domain.usage import KnowledgeBaseCall, ModelCall
from chatloom.engine.calls.models import ModelCaller
from chatloom.engine.calls.tools import ToolRunner
from chatloom.engine.context.budget import ContextBudget, Fitted
from chatloom.engine.context.window import Window, fit
from chatloom.engine.notify.server_messages import ServerMessages
from chatloom.engine.squads.handoffs import Handoffs, HandoffState, Switch, context_for
from chatloom.engine.squads.members import merged_overrides
from chatloom.engine.turn.plan import Planner, Speaker, TurnPlan
from chatloom.observability.hooks import TurnWatch
from chatloom.providers.base import ModelRequest
from chatloom.tools.calls import ToolResult, error_result


@dataclass(frozen=True, slots=True)
class CallModel:
    """Ask the assistant answering now (again, after tool results or a hand-off)."""


@dataclass(frozen=True, slots=True)
class RunTools:
    calls: list[ToolCall]


@dataclass(frozen=True, slots=True)
class HandOff:
    switch: Switch


@dataclass(frozen=True, slots=True)
class LeftToClient:
    """Some calls are the client's to answer (function tools without a server): the turn ends."""


@dataclass(frozen=True, slots=True)
class Final:
    """The model answered (or the round limit was reached): the turn is done."""


NextStep = CallModel | RunTools | HandOff | LeftToClient | Final


@dataclass(slots=True)
class LoopState:
    speaker: Speaker
    base: list[Message]
    """The messages the next call starts from, before the answering assistant's output."""
    window: Window
    output: list[Message] = field(default_factory=list)
    calls: list[ModelCall] = field(default_factory=list)
    knowledge_calls: list[KnowledgeBaseCall] = field(default_factory=list)
    """The embedding calls of the turn's knowledge-base searches (`costs[type=knowledge-base]`)."""
    output_start: int = 0
    """The first output message `base` does not hold (moves on at a hand-off)."""
    handoff: HandoffState | None = None
    """Set only when the turn can hand off (a squad, or a handoff tool)."""
    rounds: int = 0

    def billed(self) -> list[ModelCall]:
        """Every billed call of the turn, as usage limits and metrics count them."""
        return [*self.calls, *(call.as_model_call() for call in self.knowledge_calls)]

    def since_hand_off(self) -> list[Message]:
        return self.output if self.output_start == 0 else self.output[self.output_start :]


def followed_by(*parts: list[Message]) -> list[Message]:
    """The parts one after another; one that holds its JSON (`EncodedMessages`, a long history from the
    message cache) keeps it, so that history is not encoded again."""
    filled = [part for part in parts if part]
    if len(filled) == 1 and isinstance(filled[0], EncodedMessages) and filled[0].json is not None:
        return filled[0]  # nothing to add (a change to it would drop its JSON, never make it wrong)
    if any(isinstance(part, EncodedMessages) and part.json is not None for part in filled):
        return EncodedMessages.join(filled)
    joined: list[Message] = []
    for part in filled:
        joined += part
    return joined


def chat_so_far(plan: TurnPlan, output: list[Message]) -> dict[str, Any]:
    """The chat as tool servers and knowledge bases see it during the turn: attachments as markers
    (`[image]`), as in server messages, as their data is the chat's alone."""
    context = plan.context
    request = context.request
    return shown_document(
        {
            "id": plan.chat_id,
            "orgId": request.org_id,
            **({"assistantId": context.assistant_id} if context.assistant_id else {}),
            **({"sessionId": request.session_id} if request.session_id else {}),
            "messages": [*context.history, *request.input],
            "output": list(output),
            "createdAt": iso(plan.started_at),
            "updatedAt": iso(plan.started_at),
        }
    )


class TurnLoop:
    def __init__(
        self,
        models: ModelCaller,
        tools: ToolRunner,
        handoffs: Handoffs,
        planner: Planner,
        budget: ContextBudget,
        server_messages: ServerMessages,
        bill: Callable[[str, ModelReply], ModelCall],
        max_tool_rounds: int,
    ) -> None:
        self.models = models
        self.tools = tools
        self.handoffs = handoffs
        self.planner = planner
        self.budget = budget
        self.server_messages = server_messages
        self.bill = bill
        self.max_tool_rounds = max_tool_rounds

    async def run(
        self, plan: TurnPlan, state: LoopState, stream: bool, watch: TurnWatch
    ) -> AsyncIterator[TurnEvent]:
        """Runs the steps until the turn is done, yielding its text deltas and tool calls."""
        chat_id, session_id = plan.chat_id, plan.request.session_id
        step: NextStep = CallModel()
        while True:
            if isinstance(step, CallModel):
                speaker = state.speaker
                request, fitted = self._next_request(state)
                reply: ModelReply | None = None
                watch.upstream_started()
                if stream:  # the deltas are yielded here, not through a generator of its own
                    output_index = len(state.output)  # the reply's place: nothing is added meanwhile
                    first = True
                    async for item in self.models.stream(
                        speaker.endpoint.adapter, request, speaker.fallbacks
                    ):
                        if isinstance(item, TextChunk):
                            if first:
                                watch.first_token()
                                first = False
                            yield TurnDelta(chat_id, output_index, item.text, session_id)
                        else:
                            reply = item
                    if reply is None:
                        raise UpstreamError("the model's stream ended without a reply")
                else:
                    reply = await self.models.complete(speaker.endpoint.adapter, request, speaker.fallbacks)
                step = self._answered(state, request, fitted, reply, watch)
            elif isinstance(step, RunTools):
                yield TurnToolCalls(chat_id, len(state.output) - 1, step.calls, session_id)
                if state.rounds > self.max_tool_rounds:
                    limit = f"the limit of {self.max_tool_rounds} tool rounds per chat turn was reached"
                    state.output.extend(error_result(call, limit).message() for call in step.calls)
                    return
                watch.tools_started(step.calls)
                step = await self._run_tools(plan, state, step.calls)
                watch.tools_ended()
            elif isinstance(step, HandOff):
                await self._hand_off(plan, state, step.switch)
                step = CallModel()
            else:  # LeftToClient, Final
                return

    def _next_request(self, state: LoopState) -> tuple[ModelRequest, Fitted]:
        """The next model call: the speaker's request with the messages fitted to its window (the last
        round offers no tools)."""
        state.rounds += 1
        final_round = state.rounds > self.max_tool_rounds
        speaker = state.speaker
        messages = followed_by(state.base, state.since_hand_off())
        fitted, state.window, state.base = fit(self.budget, state.window, state.base, messages)
        tools = [] if final_round else speaker.request.tools
        return replace(speaker.request, messages=fitted.messages, tools=tools), fitted

    def _answered(
        self, state: LoopState, request: ModelRequest, fitted: Fitted, reply: ModelReply, watch: TurnWatch
    ) -> NextStep:
        """Bills the reply and adds it to the output; what comes next: its tool calls, or nothing."""
        watch.upstream_ended(reply.usage, reply.model)
        # Calibrated only by the server's own endpoints: a user-supplied URL's counts are its own.
        if fitted.estimated_tokens and reply.usage.prompt_tokens and not state.speaker.endpoint.user_supplied:
            self.budget.observe(request.model, fitted.estimated_tokens, reply.usage.prompt_tokens)
        state.calls.append(self.bill(request.provider, reply))
        if reply.reasoning:  # kept beside the message, never sent back to a model
            reply.message["metadata"] = {
                **reply.message.get("metadata", {}),
                "reasoning": list(reply.reasoning),
            }
        state.output.append(reply.message)
        tool_calls = reply.message.get("tool_calls")
        return RunTools(tool_calls) if tool_calls else Final()

    async def _run_tools(self, plan: TurnPlan, state: LoopState, calls: list[ToolCall]) -> NextStep:
        """One round of tool calls; their results go to the output. What comes next: a hand-off, the
        client's calls, or the model again."""
        speaker = state.speaker
        chat = chat_so_far(plan, state.output)
        if state.handoff is not None and speaker.toolbox.handoffs:

            async def others(rest: list[ToolCall]) -> tuple[list[ToolResult], bool]:
                done = await self.tools.run(
                    rest, speaker.toolbox, speaker.assistant, chat, speaker.credentials
                )
                state.knowledge_calls.extend(done.knowledge_calls)
                return done.results, not done.client_calls

            results, switch, goes_on = await self.handoffs.run_round(
                state.handoff, plan.request.org_id, speaker.toolbox, calls, chat, speaker.assistant, others
            )
            state.output.extend(results)
            if switch is not None:
                return HandOff(switch)
            return CallModel() if goes_on else LeftToClient()
        done = await self.tools.run(calls, speaker.toolbox, speaker.assistant, chat, speaker.credentials)
        state.knowledge_calls.extend(done.knowledge_calls)
        state.output.extend(result.message() for result in done.results)
        return LeftToClient() if done.client_calls else CallModel()

    async def _hand_off(self, plan: TurnPlan, state: LoopState, switch: Switch) -> None:
        """The destination takes over: its prompt, model, provider and tools, with the conversation its
        context plan keeps. Tells the source's server (and the destination's, when it is another)."""
        handoff = state.handoff
        assert handoff is not None
        agent = switch.agent
        overrides = merged_overrides(agent.overrides, handoff.request_overrides)
        conversation = [*handoff.conversation, *state.output]
        kept = context_for(switch.plan, conversation, handoff.taken_over_at())
        speaker, base, window = await self.planner.hand_off(plan.request, agent, overrides, kept)
        # What the first assistant's calls left out (and a summary) stays what `Chat.contextWindow` shows.
        before = state.window
        window = replace(
            window,
            dropped=before.dropped,
            first_seen=before.first_seen,
            summary=before.summary,
            summary_index=before.summary_index,
        )
        state.speaker, state.base, state.window = speaker, base, window
        state.output_start = len(state.output)
        handoff.agent = agent
        handoff.writers.append((len(state.output), agent.label))
        payload = {
            "chat": chat_so_far(plan, state.output),
            "source": switch.source.label,
            "destination": agent.label,
        }
        self.server_messages.send("handoff", switch.source.assistant, switch.source.overrides, payload)
        if agent.assistant.get("server") != switch.source.assistant.get("server"):
            self.server_messages.send("handoff", agent.assistant, overrides, payload)
