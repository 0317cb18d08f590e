"""The turn's "plan" stage: the answering assistant configured for its model calls (`Speaker`: endpoint,
credentials, tools, the model request's settings), the first call's messages and context window, and
whether the turn may hand off, as one frozen `TurnPlan`. A hand-off plans the next `Speaker` the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from chatloom.domain.ids import utc_now
from chatloom.domain.messages import Message
from chatloom.domain.model_options import ModelOptions, Reasoning
from chatloom.engine.access.credentials import Credentials, TurnCredentials
from chatloom.engine.assistants.prompts import render_system_messages
from chatloom.engine.assistants.views import ModelView
from chatloom.engine.calls.toolbox import Toolbox, resolve_tools
from chatloom.engine.context.budget import ContextBudget
from chatloom.engine.context.window import Window, open_window
from chatloom.engine.squads.members import Agent
from chatloom.engine.turn.conversation import TurnContext
from chatloom.engine.turn.request import TurnRequest
from chatloom.outbound.guard import OutboundPolicy
from chatloom.providers.base import ModelRequest
from chatloom.providers.registry import Endpoint, ProviderRegistry
from chatloom.store.db import Database


@dataclass(frozen=True, slots=True)
class Speaker:
    """The assistant answering now, ready to call its model: its document and overrides, its model's
    settings as a request template (`request.messages` is left empty: each call sets them), where to send
    it, its tools and the credentials its tools may use."""

    assistant: dict[str, Any]
    overrides: dict[str, Any] | None
    model: ModelView
    endpoint: Endpoint
    request: ModelRequest
    toolbox: Toolbox
    credentials: TurnCredentials

    @property
    def fallbacks(self) -> list[str]:
        return list(self.model.fallback_models)


@dataclass(frozen=True, slots=True)
class TurnPlan:
    chat_id: str
    started_at: datetime
    context: TurnContext
    speaker: Speaker
    """The first assistant to answer."""
    messages: list[Message]
    """Its first call's messages: the prompt, the history, the input."""
    window: Window
    can_hand_off: bool
    """A squad's turn, or an assistant with a handoff tool: the engine answers hand-off calls."""

    @property
    def request(self) -> TurnRequest:
        return self.context.request


class Planner:
    def __init__(
        self,
        db: Database,
        providers: ProviderRegistry,
        credentials: Credentials,
        outbound: OutboundPolicy,
        budget: ContextBudget,
        llm_timeout_seconds: float,
        max_upstream_bytes: int,
    ) -> None:
        self.db = db
        self.providers = providers
        self.credentials = credentials
        self.outbound = outbound
        self.budget = budget
        self.llm_timeout_seconds = llm_timeout_seconds
        self.max_upstream_bytes = max_upstream_bytes

    async def plan(
        self, chat_id: str, now: datetime, context: TurnContext, messages: list[Message]
    ) -> TurnPlan:
        """The plan of a turn whose context was read: `messages` are its first call's."""
        request = context.request
        speaker = await self.speaker(
            request, context.assistant, context.assistant_overrides, context.model, context.tools
        )
        window = self.window(speaker, request, len(context.prompt), len(context.history))
        return TurnPlan(
            chat_id=chat_id,
            started_at=now,
            context=context,
            speaker=speaker,
            messages=messages,
            window=window,
            can_hand_off=context.agent is not None or speaker.toolbox.handoffs,
        )

    def window(self, speaker: Speaker, request: TurnRequest, head: int, history: int) -> Window:
        """The context window of `speaker`'s calls: `head` instruction messages, then `history` messages
        that may be left out."""
        model_request = speaker.request
        return open_window(
            self.budget,
            model_request.provider,
            speaker.model.raw,
            model_request.max_tokens,
            request.truncation,
            model_request.tools,
            head,
            history,
        )

    async def hand_off(
        self, request: TurnRequest, agent: Agent, overrides: dict[str, Any] | None, context: list[Message]
    ) -> tuple[Speaker, list[Message], Window]:
        """The destination of a hand-off as the next speaker: its own prompt (rendered with `overrides`),
        model, credentials and tools, given `context` (what its context plan keeps); the messages its
        calls start from and its window, in which nothing from the latest user message on is left out."""
        model = ModelView.of(agent.assistant)
        prompt = await render_system_messages(model.raw, overrides, utc_now())
        if request.instructions:
            prompt.append({"role": "system", "content": request.instructions})
        tools: list[dict[str, Any]] = list(model.tools)
        if model.tool_ids:
            async with self.db.read() as conn:
                tools.extend(await resolve_tools(conn, request.org_id, model))
        if agent.destinations:
            tools.append({"type": "handoff", "destinations": agent.destinations})
        messages = [*prompt, *context]
        speaker = await self.speaker(request, agent.assistant, overrides, model, tools)
        last_user = next((i for i in range(len(messages) - 1, -1, -1) if messages[i]["role"] == "user"), 0)
        window = self.window(speaker, request, len(prompt), max(0, last_user - len(prompt)))
        # `Chat.contextWindow` describes the first assistant's view.
        return speaker, messages, replace(window, count_dropped=False)

    async def speaker(
        self,
        request: TurnRequest,
        assistant: dict[str, Any],
        overrides: dict[str, Any] | None,
        model: ModelView,
        tools: list[dict[str, Any]],
    ) -> Speaker:
        """An assistant (the first, or a hand-off's destination) configured for its model calls."""
        provider = model.provider
        credentials = await self.credentials.for_turn(request.org_id, assistant, overrides)
        endpoint = self.providers.endpoint(
            provider, url=model.url, headers=model.headers, api_key=credentials.api_key(provider)
        )
        if endpoint.user_supplied:
            self.outbound.check_url(endpoint.base_url, "model.url")
        temperature = request.temperature if request.temperature is not None else model.temperature
        max_tokens = request.max_tokens if request.max_tokens is not None else model.max_tokens
        toolbox = Toolbox.of(tools).with_caller_tools(request.caller_tools)
        model_request = ModelRequest(
            provider=provider,
            model=model.name,
            messages=[],
            base_url=endpoint.base_url,
            api_key=endpoint.api_key,
            headers=dict(endpoint.headers),
            temperature=temperature,
            max_tokens=int(max_tokens) if max_tokens is not None else None,
            timeout_seconds=float(model.timeout_seconds or self.llm_timeout_seconds),
            max_answer_bytes=self.max_upstream_bytes,
            thinking_budget_tokens=model.thinking_budget_tokens,
            tools=toolbox.definitions(),
            options=model_options(request.options, model),
        )
        return Speaker(assistant, overrides, model, endpoint, model_request, toolbox, credentials)


def model_options(options: ModelOptions, model: ModelView) -> ModelOptions:
    """The turn's options, with the assistant's `reasoningEffort` and `promptCacheKey` where the request
    gives none."""
    effort, cache_key = model.reasoning_effort, model.prompt_cache_key
    if effort is None and cache_key is None:
        return options
    changes: dict[str, Any] = {}
    if effort is not None and (options.reasoning is None or options.reasoning.effort is None):
        summary = options.reasoning.summary if options.reasoning is not None else None
        changes["reasoning"] = Reasoning(effort=str(effort), summary=summary)
    if cache_key is not None and options.prompt_cache_key is None:
        changes["prompt_cache_key"] = str(cache_key)
    return replace(options, **changes) if changes else options
