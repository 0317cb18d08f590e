"""One chat turn, stage by stage: `prepare` admits it (usage limits, the session's lease), reads its context
and plans it, raising 4xx-class errors before anything is sent to the client; `run` then grounds it, runs
the model/tool loop holding no DB connection, records it in one short write and tells the assistant's
server, as one async iterator of `TurnEvent`s. A failed turn yields `TurnFailed` and stores nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, replace
from typing import Any

from chatloom.domain.errors import ChatloomError, ContextWindowExceeded, UpstreamError, UpstreamTimeout
from chatloom.domain.events import ModelReply, TurnCompleted, TurnDelta, TurnEvent, TurnFailed, TurnStarted
from chatloom.domain.ids import iso, new_id, utc_now
from chatloom.domain.messages import assistant_message
from chatloom.domain.usage import ModelCall
from chatloom.engine.access.credentials import Credentials
from chatloom.engine.access.usage_gate import UsageGate
from chatloom.engine.assistants.cache import AssistantCache
from chatloom.engine.assistants.direct import direct_assistant
from chatloom.engine.calls.grounding import Grounding, needs_grounding
from chatloom.engine.calls.models import ModelCaller
from chatloom.engine.calls.pricing import PriceBook
from chatloom.engine.calls.structured import check_answer
from chatloom.engine.calls.tools import ToolRunner
from chatloom.engine.context.budget import ContextBudget, provider_overflow
from chatloom.engine.context.summary import Summaries
from chatloom.engine.context.window import fit
from chatloom.engine.notify.server_messages import ServerMessages
from chatloom.engine.records.leases import Lease, SessionLeases
from chatloom.engine.records.redaction import public_document
from chatloom.engine.squads.handoffs import Handoffs, HandoffState
from chatloom.engine.squads.members import Agent
from chatloom.engine.squads.records import sealed_members
from chatloom.engine.turn.conversation import build_context
from chatloom.engine.turn.loop import LoopState, TurnLoop, chat_so_far, followed_by
from chatloom.engine.turn.plan import Planner, TurnPlan
from chatloom.engine.turn.record import TurnStore, chat_document, turn_record
from chatloom.engine.turn.request import TurnHandle, TurnRequest
from chatloom.observability.hooks import Observer
from chatloom.outbound.guard import OutboundPolicy
from chatloom.providers.registry import ProviderRegistry
from chatloom.store.db import Database
from chatloom.store.turns.writer import TurnWriter
from chatloom.tools.handoff import HandoffDestinationClient

log = logging.getLogger("chatloom.turn")


@dataclass(frozen=True, slots=True)
class PreparedTurn:
    """A turn ready to run: its plan, and on a session the lease it holds."""

    plan: TurnPlan
    lease: Lease | None = None

    @property
    def chat_id(self) -> str:
        """The chat the turn makes (what its stream is kept under), without building a `handle`."""
        return self.plan.chat_id

    @property
    def org_id(self) -> str:
        return self.plan.context.request.org_id

    @property
    def handle(self) -> TurnHandle:
        """What the API may know of the turn."""
        policy = self.plan.window.policy
        request = self.plan.request
        return TurnHandle(
            chat_id=self.plan.chat_id,
            org_id=request.org_id,
            session_id=request.session_id,
            model=self.plan.speaker.request.model,
            started_at=self.plan.started_at,
            truncation="disabled" if policy is not None and policy.strategy == "disabled" else "auto",
        )


def outcome_of(event: TurnEvent | None) -> str:
    """How a turn ended, for metrics: completed, upstream_error, timeout, error or cancelled."""
    if isinstance(event, TurnCompleted):
        return "completed"
    if isinstance(event, TurnFailed):
        if isinstance(event.error, UpstreamTimeout):
            return "timeout"
        return "upstream_error" if isinstance(event.error, UpstreamError) else "error"
    return "cancelled"


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
        turns: TurnStore | None = None,
    ) -> None:
        self.db = db
        self.providers = providers
        self.prices = prices
        self.leases = leases
        self.models = models
        self.server_messages = server_messages
        self.grounding = grounding
        self.observer = observer or Observer()
        self.usage = usage
        self.assistant_cache = assistant_cache or AssistantCache(ttl_seconds=0)
        self.credentials = credentials or Credentials.unkeyed(db)
        self.turns = turns or TurnWriter(db)
        budget = self.budget = context_budget or ContextBudget()
        self.summaries = Summaries(models, budget, self._bill)
        self.planner = Planner(
            db, providers, self.credentials, outbound, budget, llm_timeout_seconds, max_upstream_bytes
        )
        handoffs = Handoffs(
            db,
            HandoffDestinationClient(tools.function_tools.http, tools.function_tools.default_secret),
            max_handoffs_per_turn,
        )
        self.loop = TurnLoop(
            models, tools, handoffs, self.planner, budget, server_messages, self._bill, max_tool_rounds
        )

    # --- prepare: admit, read, plan --------------------------------------------------------------------

    async def prepare(self, request: TurnRequest) -> PreparedTurn:
        """Admits, reads and plans the turn; on a session, waits for and takes its turn lease."""
        if self.usage is not None:  # before anything else: a refused turn waits for nothing
            await self.usage.admit(request.org_id, request.key_id)
        lease = None
        if request.session_id is not None:
            waited_since = time.perf_counter()
            lease = await self.leases.acquire(request.org_id, request.session_id)
            self.observer.lease_waited(time.perf_counter() - waited_since)
        try:
            plan = await self._plan(self._sealed(request), lease)
        except BaseException:
            if lease is not None:
                await self.leases.release(request.org_id, str(request.session_id), lease.owner)
            raise
        return PreparedTurn(plan, lease)

    def _sealed(self, request: TurnRequest) -> TurnRequest:
        """The request with its inline credentials sealed, before anything keeps them (the chat stores
        its inline assistant, overrides and squad); a direct model's turn, with its inline assistant."""
        if request.model is not None and request.assistant is None:
            return replace(
                request,
                assistant=direct_assistant(request.model, self.providers.providers, self.prices.knows),
            )
        if request.assistant is None and request.assistant_overrides is None and request.squad is None:
            return request
        seal = self.credentials.seal_assistant
        squad = request.squad
        if squad is not None and "members" in squad:
            squad = {**squad, "members": sealed_members(self.credentials, squad["members"])}
        assistant, overrides = seal(request.assistant), seal(request.assistant_overrides)
        if (
            assistant is request.assistant
            and overrides is request.assistant_overrides
            and squad is request.squad
        ):
            return request  # nothing inline to seal (the usual overrides: variable values)
        return replace(request, assistant=assistant, assistant_overrides=overrides, squad=squad)

    async def _plan(self, request: TurnRequest, lease: Lease | None) -> TurnPlan:
        now = utc_now()
        context = await build_context(
            self.db, request, now, self.assistant_cache, lease.row if lease is not None else None
        )
        messages = followed_by(context.prompt, context.history, request.input)
        plan = await self.planner.plan(new_id(), now, context, messages)
        policy = plan.window.policy
        if policy is None or policy.strategy == "summarize":
            return plan
        # Fitted now: an overflow under "disabled" is a 400 before any call.
        _, window, messages = fit(self.budget, plan.window, plan.messages, plan.messages)
        if window is plan.window and messages is plan.messages:
            return plan  # nothing left out (`fit` returns what it was given)
        return replace(plan, window=window, messages=messages)

    # --- run: ground, loop, record, notify ------------------------------------------------------------

    async def run(self, turn: PreparedTurn, stream: bool) -> AsyncGenerator[TurnEvent, None]:
        """The turn's events: started, deltas and tool calls, then completed (stored) or failed (nothing
        stored). One generator from the loop's deltas to the caller: each chunk passes no extra level."""
        plan = turn.plan
        request = plan.request
        session_id, lease = request.session_id, turn.lease
        end: TurnCompleted | TurnFailed | None = None
        renewal = None
        speaker = plan.speaker.request
        watch = self.observer.watch_turn(speaker.provider, speaker.model, request.org_id)
        if lease is not None and session_id is not None:
            renewal = self.leases.keep(request.org_id, session_id, lease.owner)
        try:
            yield TurnStarted(plan.chat_id, session_id)
            state = self._start(plan)
            try:
                direct_reply = await self._before_loop(plan, state)
                if direct_reply is not None:  # the knowledge base answered itself: no model call
                    state.output.append(assistant_message(direct_reply))
                    if stream:
                        yield TurnDelta(plan.chat_id, 0, direct_reply, session_id)
                else:
                    async for event in self.loop.run(plan, state, stream, watch):
                        yield event
                end = TurnCompleted(await self._after_loop(plan, lease, state), state.output, state.billed())
            except ContextWindowExceeded as error:
                if error.upstream and state.window.policy is not None:
                    error = provider_overflow(state.window.policy, error.message_text)
                end = TurnFailed(plan.chat_id, error, session_id)
            except ChatloomError as error:
                end = TurnFailed(plan.chat_id, error, session_id)
            except Exception as error:
                log.exception("turn %s failed", plan.chat_id)
                end = TurnFailed(plan.chat_id, error, session_id)
            if self.usage is not None and isinstance(end, TurnCompleted):
                await self.usage.charge(request.org_id, request.key_id, end.calls)
            yield end
        finally:
            watch.finish(outcome_of(end), end.calls if isinstance(end, TurnCompleted) else ())
            if renewal is not None:
                await renewal.stop()
            if lease is not None and session_id is not None and not isinstance(end, TurnCompleted):
                await self.leases.release(request.org_id, session_id, lease.owner)

    async def _before_loop(self, plan: TurnPlan, state: LoopState) -> str | None:
        """Context and grounding: summarizes what no longer fits (policy "summarize"), lists MCP tools and
        asks the knowledge base; returns the knowledge base's own reply, if it gave one."""
        policy = state.window.policy
        if policy is not None and policy.strategy == "summarize":
            speaker = state.speaker
            summarized = await self.summaries.apply(
                state.window,
                plan.context.history,
                plan.context.prompt,
                state.base,
                replace(speaker.request, messages=state.base),
                speaker.endpoint.adapter,
            )
            state.window, state.base = summarized.window, summarized.messages
            if summarized.call is not None:
                state.calls.append(summarized.call)
        return await self._ground(plan, state)

    async def _after_loop(self, plan: TurnPlan, lease: Lease | None, state: LoopState) -> dict[str, Any]:
        """Checks a structured answer against its format, then records the turn; returns the stored chat."""
        output_format = plan.request.options.output_format
        if output_format is not None:
            check_answer(output_format, state.output)
        return await self._record(plan, lease, state)

    def _start(self, plan: TurnPlan) -> LoopState:
        """The loop's state at the start: the first assistant, its messages and window, and what a turn
        that may hand off keeps about who answers."""
        context = plan.context
        handoff = None
        if plan.can_hand_off:
            agent = context.agent or Agent(
                context.assistant,
                context.assistant_id,
                context.assistant_overrides,
                {"assistantId": context.assistant_id}
                if context.assistant_id
                else {"assistant": context.assistant},
            )
            handoff = HandoffState(
                context.squad,
                agent,
                plan.request.assistant_overrides,
                [*context.history, *plan.request.input],
                writers=[(0, agent.label)],
            )
        return LoopState(plan.speaker, plan.messages, plan.window, handoff=handoff)

    async def _ground(self, plan: TurnPlan, state: LoopState) -> str | None:
        """Lists the assistant's MCP servers' tools and asks its knowledge base, when it has them; returns
        the knowledge base's own reply, if it gave one."""
        speaker = state.speaker
        if self.grounding is None or not needs_grounding(speaker.toolbox, speaker.model.raw):
            return None
        grounded = await self.grounding.apply(
            plan.request.org_id,
            speaker.toolbox,
            speaker.model.raw,
            state.base,
            chat_so_far(plan, []),
            speaker.assistant,
        )
        state.base = grounded.messages
        state.speaker = replace(
            speaker,
            toolbox=grounded.toolbox,
            request=replace(speaker.request, tools=grounded.toolbox.definitions()),
        )
        return grounded.reply

    async def _record(self, plan: TurnPlan, lease: Lease | None, state: LoopState) -> dict[str, Any]:
        """Stores the turn, then tells the assistant's server (`chat.created`). A turn asked not to be
        stored (`store: false`) is neither stored nor announced: the chat only reaches its caller."""
        now = utc_now()
        chat = chat_document(plan, state)
        store = plan.request.store
        if store:
            await self.turns.record(turn_record(plan, lease, state, chat, now))
        if plan.request.session_id is not None:
            self.leases.released(plan.request.session_id)
        chat = public_document(chat)
        chat["createdAt"] = chat["updatedAt"] = iso(now)
        if not store:
            return chat
        speaker = state.speaker
        self.server_messages.send("chat.created", speaker.assistant, speaker.overrides, {"chat": chat})
        return chat

    def _bill(self, provider: str, reply: ModelReply) -> ModelCall:
        return ModelCall(
            provider, reply.model, reply.usage, self.prices.cost(provider, reply.model, reply.usage)
        )
