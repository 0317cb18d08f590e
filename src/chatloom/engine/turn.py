"""One chat turn: context → model call → stored chat, as one async iterator of `TurnEvent`s.

`prepare()` does every lookup and validation (raising 4xx-class errors) before anything is sent to
the client. `run()` then holds no DB connection while the model answers, and writes the chat in one
short transaction at the end. A failed turn yields `TurnFailed` and stores nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from chatloom.domain.encoded_messages import EncodedMessages
from chatloom.domain.errors import ChatloomError, ContextWindowExceeded, UpstreamError, UpstreamTimeout
from chatloom.domain.events import (
    ModelReply,
    TextChunk,
    TurnCompleted,
    TurnDelta,
    TurnEvent,
    TurnFailed,
    TurnStarted,
    TurnToolCalls,
)
from chatloom.domain.ids import iso, new_id, utc_now
from chatloom.domain.messages import Message, ToolCall, assistant_message
from chatloom.domain.tokens import json_tokens
from chatloom.domain.usage import ModelCall
from chatloom.engine.assistant_cache import AssistantCache
from chatloom.engine.context import (  # TurnRequest: the turn's input, exported with the engine
    TurnContext,
    TurnRequest,
    build_context,
    render_system_messages,
    resolve_tools,
)
from chatloom.engine.context_budget import ContextBudget, ContextPolicy, Fitted, provider_overflow
from chatloom.engine.context_summary import Summaries, context_window
from chatloom.engine.credentials import NO_CREDENTIALS, Credentials, TurnCredentials
from chatloom.engine.grounding import Grounding, needs_grounding
from chatloom.engine.handoffs import Handoffs, HandoffState, Switch, context_for
from chatloom.engine.model_calls import ModelCaller
from chatloom.engine.pricing import PriceBook
from chatloom.engine.redaction import public_document
from chatloom.engine.server_messages import ServerMessages
from chatloom.engine.sessions import SessionLeases
from chatloom.engine.squads import Agent, merged_overrides, seal_members
from chatloom.engine.tool_definitions import Toolbox
from chatloom.engine.tool_runner import ToolRunner
from chatloom.engine.turn_writes import write_turn
from chatloom.engine.usage_gate import UsageGate
from chatloom.observability.hooks import NO_WATCH, Observer, TurnWatch
from chatloom.outbound.guard import OutboundPolicy
from chatloom.providers.base import ModelRequest
from chatloom.providers.registry import Endpoint, ProviderRegistry
from chatloom.store.db import Database
from chatloom.tools.calls import ToolResult, error_result
from chatloom.tools.handoff import HandoffDestinationClient

log = logging.getLogger("chatloom.turn")


@dataclass(slots=True)
class PreparedTurn:
    chat_id: str
    context: TurnContext
    endpoint: Endpoint
    model_request: ModelRequest
    started_at: datetime
    fallbacks: list[str]
    toolbox: Toolbox
    session_lease: str | None = None
    credentials: TurnCredentials = NO_CREDENTIALS
    handoff: HandoffState | None = None
    """Set only when the assistant can hand off (a squad, or a handoff tool)."""
    output_start: int = 0
    """The first output message the model request does not hold yet (moves on at a hand-off)."""
    context_policy: ContextPolicy | None = None
    history_dropped: int = 0
    """How many of the oldest history messages the model does not see (`Chat.contextWindow`)."""
    tool_tokens: int = 0
    head: int = 0
    """Messages at the start of the model call never dropped: the instructions (and a summary)."""
    history_sent: int = 0
    """History messages in `model_request.messages`, after the head."""
    first_seen: int = 0
    """Where the history the model is sent starts in the stored history, before truncation."""
    summary: Message | None = None
    """A summary written by this turn, stored before its input ("summarize")."""
    summary_index: int | None = None
    count_dropped: bool = True
    watch: TurnWatch = NO_WATCH
    session_row: Any = None
    """On a session: its row as the turn's lease took it."""

    @property
    def handle(self) -> TurnHandle:
        """What the API may know of the turn."""
        policy = self.context_policy
        return TurnHandle(
            chat_id=self.chat_id,
            org_id=self.context.request.org_id,
            session_id=self.context.request.session_id,
            model=self.model_request.model,
            started_at=self.started_at,
            truncation="disabled" if policy is not None and policy.strategy == "disabled" else "auto",
        )


@dataclass(frozen=True, slots=True)
class TurnHandle:
    """A prepared turn as the API sees it: which chat it makes, on which session, with which model, since
    when, and whether old history may be left out (OpenAI's `truncation`: "auto" or "disabled")."""

    chat_id: str
    org_id: str
    session_id: str | None
    model: str
    started_at: datetime
    truncation: str


def outcome_of(event: TurnEvent | None) -> str:
    """How a turn ended, for metrics: completed, upstream_error, timeout, error or cancelled."""
    if isinstance(event, TurnCompleted):
        return "completed"
    if isinstance(event, TurnFailed):
        if isinstance(event.error, UpstreamTimeout):
            return "timeout"
        return "upstream_error" if isinstance(event.error, UpstreamError) else "error"
    return "cancelled"


def cost_entry(call: ModelCall) -> dict[str, Any]:
    """A `ModelCost` entry of `Chat.costs`."""
    return {
        "type": "model",
        "model": {"provider": call.provider, "model": call.model},
        "promptTokens": call.usage.prompt_tokens,
        "completionTokens": call.usage.completion_tokens,
        "cachedPromptTokens": call.usage.cached_prompt_tokens,
        **({"reasoningTokens": call.usage.reasoning_tokens} if call.usage.reasoning_tokens else {}),
        "cost": call.cost,
    }


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


def since_hand_off(output: list[Message], start: int) -> list[Message]:
    """The output the model request does not hold yet (all of it, unless a hand-off happened)."""
    return output if start == 0 else output[start:]


def thinking_budget(model: dict[str, Any]) -> int | None:
    """Vapi's `model.thinking: {"type": "enabled", "budgetTokens": N}`, as a token budget."""
    thinking = model.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled" and thinking.get("budgetTokens"):
        return int(thinking["budgetTokens"])
    return None


class ChatEngine:
    def __init__(
        self,
        db: Database,
        providers: ProviderRegistry,
        prices: PriceBook,
        outbound: OutboundPolicy,
        leases: SessionLeases,
        models: ModelCaller,
        tools: ToolRunner,
        server_messages: ServerMessages,
        llm_timeout_seconds: float,
        max_tool_rounds: int = 10,
        assistant_cache: AssistantCache | None = None,
        max_upstream_bytes: int = 16 * 1024 * 1024,
        credentials: Credentials | None = None,
        grounding: Grounding | None = None,
        observer: Observer | None = None,
        usage: UsageGate | None = None,
        max_handoffs_per_turn: int = 5,
        context_budget: ContextBudget | None = None,
    ) -> None:
        self.context_budget = context_budget or ContextBudget()
        self.summaries = Summaries(models, self.context_budget, self._bill)
        self.usage = usage
        self.observer = observer or Observer()
        self.grounding = grounding
        self.handoffs = Handoffs(
            db,
            HandoffDestinationClient(tools.function_tools.http, tools.function_tools.default_secret),
            max_handoffs_per_turn,
        )
        self.max_upstream_bytes = max_upstream_bytes
        self.assistant_cache = assistant_cache or AssistantCache(ttl_seconds=0)
        self.credentials = credentials or Credentials.unkeyed(db)
        self.models = models
        self.tools = tools
        self.server_messages = server_messages
        self.max_tool_rounds = max_tool_rounds
        self.db = db
        self.leases = leases
        self.outbound = outbound
        self.providers = providers
        self.prices = prices
        self.llm_timeout_seconds = llm_timeout_seconds

    async def prepare(self, request: TurnRequest) -> PreparedTurn:
        """Looks everything up and validates it; on a session, waits for and takes its turn lease."""
        if self.usage is not None:  # before anything else: a refused turn waits for nothing
            await self.usage.admit(request.org_id, request.key_id)
        lease = session_row = None
        if request.session_id is not None:
            waited_since = time.perf_counter()
            lease, session_row = await self.leases.acquire(request.org_id, request.session_id)
            self.observer.lease_waited(time.perf_counter() - waited_since)
        try:
            turn = await self._prepare(request, session_row)
        except BaseException:
            if lease is not None:
                await self.leases.release(request.org_id, str(request.session_id), lease)
            raise
        turn.session_lease, turn.session_row = lease, session_row
        return turn

    async def _prepare(self, request: TurnRequest, session_row: Any = None) -> PreparedTurn:
        """`session_row`: the session's row as the turn's lease took it (on a session)."""
        now = utc_now()
        # Inline credentials are sealed before anything keeps them (the chat stores this assistant).
        request.assistant = self.credentials.seal_assistant(request.assistant)
        request.assistant_overrides = self.credentials.seal_assistant(request.assistant_overrides)
        if request.squad is not None:
            seal_members(self.credentials, request.squad.get("members"))
        context = await build_context(self.db, request, now, self.assistant_cache, session_row)
        messages = followed_by(context.prompt, context.history, request.input)
        endpoint, model_request, toolbox, credentials = await self._configure(
            request, context.assistant, context.assistant_overrides, context.model, messages, context.tools
        )
        fallbacks = [str(name) for name in context.model.get("fallbackModels") or []]
        turn = PreparedTurn(
            new_id(), context, endpoint, model_request, now, fallbacks, toolbox, credentials=credentials
        )
        if context.agent is not None or toolbox.handoffs:
            agent = context.agent or Agent(
                context.assistant,
                context.assistant_id,
                context.assistant_overrides,
                {"assistantId": context.assistant_id}
                if context.assistant_id
                else {"assistant": context.assistant},
            )
            turn.handoff = HandoffState(
                context.squad,
                agent,
                request.assistant_overrides,
                [*context.history, *request.input],
                writers=[(0, agent.label)],
            )
        self._budget(turn, len(context.prompt), len(context.history))
        if turn.context_policy is not None and turn.context_policy.strategy != "summarize":
            self._fit(turn, model_request.messages)  # an overflow under "disabled" is a 400 before any call
        return turn

    def _budget(self, turn: PreparedTurn, head: int, history: int) -> None:
        """The context budget of the turn's (current) model: `head` instruction messages then `history`
        messages that may be left out."""
        request = turn.model_request
        turn.context_policy = self.context_budget.policy(
            request.provider, turn.context.model, request.max_tokens, turn.context.request.truncation
        )
        turn.tool_tokens = json_tokens(request.tools)
        turn.head, turn.history_sent = head, history

    async def _configure(
        self,
        request: TurnRequest,
        assistant: dict[str, Any],
        overrides: dict[str, Any] | None,
        model: dict[str, Any],
        messages: list[Message],
        tools: list[dict[str, Any]],
    ) -> tuple[Endpoint, ModelRequest, Toolbox, TurnCredentials]:
        """The endpoint, model request and toolbox of one assistant (the first, or a hand-off's)."""
        provider = str(model.get("provider"))
        credentials = await self.credentials.for_turn(request.org_id, assistant, overrides)
        endpoint = self.providers.endpoint(
            provider,
            url=model.get("url"),
            headers=model.get("headers"),
            api_key=credentials.api_key(provider),
        )
        if endpoint.user_supplied:
            self.outbound.check_url(endpoint.base_url, "model.url")
        temperature = request.temperature if request.temperature is not None else model.get("temperature")
        max_tokens = request.max_tokens if request.max_tokens is not None else model.get("maxTokens")
        timeout = model.get("timeoutSeconds") or self.llm_timeout_seconds
        toolbox = Toolbox.of(tools)
        model_request = ModelRequest(
            provider=provider,
            model=str(model["model"]),
            messages=messages,
            base_url=endpoint.base_url,
            api_key=endpoint.api_key,
            headers=dict(endpoint.headers),
            temperature=temperature,
            max_tokens=int(max_tokens) if max_tokens is not None else None,
            timeout_seconds=float(timeout),
            max_answer_bytes=self.max_upstream_bytes,
            thinking_budget_tokens=thinking_budget(model),
            tools=toolbox.definitions(),
        )
        return endpoint, model_request, toolbox, credentials

    async def _hand_off(self, turn: PreparedTurn, switch: Switch, output: list[Message]) -> None:
        """The destination takes over: its prompt, model, provider and tools, with the conversation its
        context plan keeps."""
        state = turn.handoff
        assert state is not None
        context, request, agent = turn.context, turn.context.request, switch.agent
        model = agent.assistant["model"]
        overrides = merged_overrides(agent.overrides, state.request_overrides)
        prompt = await render_system_messages(model, overrides, utc_now())
        if request.instructions:
            prompt.append({"role": "system", "content": request.instructions})
        tools = [tool for tool in model.get("tools") or [] if isinstance(tool, dict)]
        if model.get("toolIds"):
            async with self.db.read() as conn:
                tools.extend(await resolve_tools(conn, request.org_id, model))
        if agent.destinations:
            tools.append({"type": "handoff", "destinations": agent.destinations})
        conversation = [*state.conversation, *output]
        messages = [*prompt, *context_for(switch.plan, conversation, state.taken_over_at())]
        turn.endpoint, turn.model_request, turn.toolbox, turn.credentials = await self._configure(
            request, agent.assistant, overrides, model, messages, tools
        )
        turn.fallbacks = [str(name) for name in model.get("fallbackModels") or []]
        turn.output_start = len(output)
        context.assistant, context.assistant_overrides, context.model = agent.assistant, overrides, model
        # The destination's own window; from the latest user message on nothing is left out.
        last_user = next((i for i in range(len(messages) - 1, -1, -1) if messages[i]["role"] == "user"), 0)
        self._budget(turn, len(prompt), max(0, last_user - len(prompt)))
        turn.count_dropped = False  # `Chat.contextWindow` describes the first assistant's view
        state.agent = agent
        state.writers.append((len(output), agent.label))
        chat = self._chat_so_far(turn, output)
        payload = {"chat": chat, "source": switch.source.label, "destination": agent.label}
        self.server_messages.send("handoff", switch.source.assistant, switch.source.overrides, payload)
        if agent.assistant.get("server") != switch.source.assistant.get("server"):
            self.server_messages.send("handoff", agent.assistant, overrides, payload)

    def _fit(self, turn: PreparedTurn, messages: list[Message]) -> Fitted:
        """Cuts the model call's messages to the context window; history dropped is dropped for good
        (for the turn's later tool rounds too)."""
        assert turn.context_policy is not None
        head = turn.head
        fitted = self.context_budget.fit(
            turn.context_policy, messages, head, len(messages) - head - turn.history_sent, turn.tool_tokens
        )
        if fitted.dropped:
            turn.history_dropped += fitted.dropped if turn.count_dropped else 0
            turn.history_sent -= fitted.dropped
            kept = turn.model_request.messages
            turn.model_request = replace(
                turn.model_request, messages=[*kept[:head], *kept[head + fitted.dropped :]]
            )
        return fitted

    async def run(self, turn: PreparedTurn, stream: bool) -> AsyncGenerator[TurnEvent, None]:
        session_id = turn.context.request.session_id
        stored = False
        renewal = None
        last: TurnEvent | None = None
        request = turn.model_request
        turn.watch = self.observer.watch_turn(request.provider, request.model, turn.context.request.org_id)
        if turn.session_lease is not None and session_id is not None:
            renewal = self.leases.keep(turn.context.request.org_id, session_id, turn.session_lease)
        try:
            async for event in self._run(turn, stream):
                stored = stored or isinstance(event, TurnCompleted)
                last = event
                if self.usage is not None and isinstance(event, TurnCompleted):
                    await self.usage.charge(
                        turn.context.request.org_id, turn.context.request.key_id, event.calls
                    )
                yield event
        finally:
            turn.watch.finish(outcome_of(last), last.calls if isinstance(last, TurnCompleted) else ())
            if renewal is not None:
                await renewal.stop()
            if turn.session_lease is not None and session_id is not None and not stored:
                await self.leases.release(turn.context.request.org_id, session_id, turn.session_lease)

    async def _run(self, turn: PreparedTurn, stream: bool) -> AsyncIterator[TurnEvent]:
        session_id = turn.context.request.session_id
        yield TurnStarted(turn.chat_id, session_id)
        output: list[Message] = []
        calls: list[ModelCall] = []
        try:
            if turn.context_policy is not None and turn.context_policy.strategy == "summarize":
                await self.summaries.apply(turn, calls)
            direct_reply = await self._before_model_calls(turn)
            if direct_reply is not None:  # the knowledge base answered itself: no model call
                output.append(assistant_message(direct_reply))
                if stream:
                    yield TurnDelta(turn.chat_id, 0, direct_reply, session_id)
            for round_number in range(self.max_tool_rounds + 1 if direct_reply is None else 0):
                final_round = round_number == self.max_tool_rounds
                fitted = self._fit(
                    turn, followed_by(turn.model_request.messages, since_hand_off(output, turn.output_start))
                )
                request = replace(
                    turn.model_request,
                    messages=fitted.messages,
                    tools=[] if final_round else turn.model_request.tools,
                )
                reply: ModelReply | None = None
                turn.watch.upstream_started()
                if stream:
                    async for item in self.models.stream(turn.endpoint.adapter, request, turn.fallbacks):
                        if isinstance(item, TextChunk):
                            turn.watch.first_token()
                            yield TurnDelta(turn.chat_id, len(output), item.text, session_id)
                        else:
                            reply = item
                    if reply is None:
                        raise UpstreamError("the model's stream ended without a reply")
                else:
                    reply = await self.models.complete(turn.endpoint.adapter, request, turn.fallbacks)
                turn.watch.upstream_ended(reply.usage, reply.model)
                # Calibrated only by the server's own endpoints: a user-supplied URL's counts are its own.
                if fitted.estimated_tokens and reply.usage.prompt_tokens and not turn.endpoint.user_supplied:
                    self.context_budget.observe(
                        request.model, fitted.estimated_tokens, reply.usage.prompt_tokens
                    )
                calls.append(self._bill(turn.model_request.provider, reply))
                output.append(reply.message)
                tool_calls = reply.message.get("tool_calls")
                if not tool_calls:
                    break
                yield TurnToolCalls(turn.chat_id, len(output) - 1, tool_calls, session_id)
                if final_round:
                    limit = f"the limit of {self.max_tool_rounds} tool rounds per chat turn was reached"
                    output.extend(error_result(call, limit).message() for call in tool_calls)
                    break
                turn.watch.tools_started(tool_calls)
                ran_all = await self._run_tools(turn, tool_calls, output)
                turn.watch.tools_ended()
                if not ran_all:
                    break
            chat = await self._store(turn, output, calls)
        except ContextWindowExceeded as error:
            if error.upstream and turn.context_policy is not None:
                error = provider_overflow(turn.context_policy, error.message_text)
            yield TurnFailed(turn.chat_id, error, session_id)
            return
        except ChatloomError as error:
            yield TurnFailed(turn.chat_id, error, session_id)
            return
        except Exception as error:
            log.exception("turn %s failed", turn.chat_id)
            yield TurnFailed(turn.chat_id, error, session_id)
            return
        yield TurnCompleted(chat, output, calls)

    async def _before_model_calls(self, turn: PreparedTurn) -> str | None:
        """Lists the assistant's MCP servers' tools and asks its knowledge base, when it has them; returns
        the knowledge base's own reply, if it gave one."""
        if self.grounding is None or not needs_grounding(turn.toolbox, turn.context.model):
            return None
        context = turn.context
        grounded = await self.grounding.apply(
            context.request.org_id,
            turn.toolbox,
            context.model,
            turn.model_request.messages,
            self._chat_so_far(turn, []),
            context.assistant,
        )
        turn.model_request = replace(
            turn.model_request, messages=grounded.messages, tools=turn.toolbox.definitions()
        )
        return grounded.reply

    def _chat_so_far(self, turn: PreparedTurn, output: list[Message]) -> dict[str, Any]:
        """The chat as tool servers and knowledge bases see it during the turn."""
        context = turn.context
        return {
            "id": turn.chat_id,
            "orgId": context.request.org_id,
            **({"assistantId": context.assistant_id} if context.assistant_id else {}),
            **({"sessionId": context.request.session_id} if context.request.session_id else {}),
            "messages": [*context.history, *context.request.input],
            "output": list(output),
            "createdAt": iso(turn.started_at),
            "updatedAt": iso(turn.started_at),
        }

    async def _run_tools(self, turn: PreparedTurn, tool_calls: list[ToolCall], output: list[Message]) -> bool:
        """Runs one round of tool calls, appending their results to `output`. False when some calls are
        left to the client, which ends the turn."""
        chat = self._chat_so_far(turn, output)
        assistant = turn.context.assistant
        if turn.handoff is not None and turn.toolbox.handoffs:

            async def others(calls: list[ToolCall]) -> tuple[list[ToolResult], bool]:
                done = await self.tools.run(calls, turn.toolbox, assistant, chat, turn.credentials)
                return done.results, not done.client_calls

            results, switch, goes_on = await self.handoffs.run_round(
                turn.handoff, turn.context.request.org_id, turn.toolbox, tool_calls, chat, assistant, others
            )
            output.extend(results)
            if switch is not None:
                await self._hand_off(turn, switch, output)
            return goes_on
        round_ = await self.tools.run(tool_calls, turn.toolbox, assistant, chat, turn.credentials)
        output.extend(result.message() for result in round_.results)
        return not round_.client_calls

    def _bill(self, provider: str, reply: ModelReply) -> ModelCall:
        return ModelCall(
            provider, reply.model, reply.usage, self.prices.cost(provider, reply.model, reply.usage)
        )

    async def _store(
        self, turn: PreparedTurn, output: list[Message], calls: list[ModelCall]
    ) -> dict[str, Any]:
        context = turn.context
        request = context.request
        now = utc_now()
        chat: dict[str, Any] = {"id": turn.chat_id, "orgId": request.org_id}
        if context.assistant_id is not None:
            chat["assistantId"] = context.assistant_id
        if context.inline_assistant is not None:
            chat["assistant"] = context.inline_assistant
        if context.assistant_overrides is not None:
            chat["assistantOverrides"] = context.assistant_overrides
        if request.name is not None:
            chat["name"] = request.name
        if request.session_id is not None:
            chat["sessionId"] = request.session_id
        if request.previous_chat_id is not None:
            chat["previousChatId"] = request.previous_chat_id
        chat["input"] = request.raw_input
        chat["stream"] = request.stream
        prefix = [turn.summary] if turn.summary is not None else []
        chat["messages"] = followed_by(context.history, prefix, request.input)
        chat["output"] = output
        window = context_window(turn)
        if window is not None:
            chat["contextWindow"] = window
        chat["costs"] = [cost_entry(call) for call in calls]
        chat["cost"] = sum(call.cost for call in calls)
        if turn.handoff is not None:
            self._squad_fields(turn.handoff, chat, len(output))
        written = await write_turn(self.db, turn, chat, [*prefix, *request.input, *output], now)
        for place in written:
            place.cached(self.db.messages)
        if request.session_id is not None:
            self.leases.released(request.session_id)
        chat = public_document(chat)
        chat["createdAt"] = chat["updatedAt"] = iso(now)
        self.server_messages.send(
            "chat.created", context.assistant, context.assistant_overrides, {"chat": chat}
        )
        return chat

    @staticmethod
    def _squad_fields(state: HandoffState, chat: dict[str, Any], length: int) -> None:
        """A squad chat names its squad, which assistant wrote each output message, and the assistant
        that answers the next turn."""
        if state.squad is not None:
            chat.pop("assistant", None)
            if state.squad.squad_id is not None:
                chat["squadId"] = state.squad.squad_id
            else:
                chat["squad"] = state.squad.inline
        chat["activeAssistant"] = state.agent.ref
        chat["outputAssistants"] = state.output_assistants(length)
