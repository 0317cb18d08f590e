"""One chat turn: context → model call → stored chat, as one async iterator of `TurnEvent`s.

`prepare()` does every lookup and validation (raising 4xx-class errors) before anything is sent to
the client. `run()` then holds no DB connection while the model answers, and writes the chat in one
short transaction at the end. A failed turn yields `TurnFailed` and stores nothing.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chatloom.domain.errors import ChatloomError, UpstreamError
from chatloom.domain.events import (
    ModelReply,
    TextChunk,
    TurnCompleted,
    TurnDelta,
    TurnEvent,
    TurnFailed,
    TurnStarted,
)
from chatloom.domain.ids import iso, new_id, utc_now
from chatloom.domain.messages import Message
from chatloom.domain.usage import ModelCall
from chatloom.engine.context import TurnContext, TurnRequest, build_context
from chatloom.engine.model_calls import ModelCaller
from chatloom.engine.pricing import PriceBook
from chatloom.engine.sessions import SessionLeases
from chatloom.engine.tool_definitions import function_definitions
from chatloom.outbound.guard import OutboundPolicy
from chatloom.providers.base import ModelRequest
from chatloom.providers.registry import Endpoint, ProviderRegistry
from chatloom.store import chats, sessions
from chatloom.store.db import Database

log = logging.getLogger("chatloom.turn")


@dataclass(slots=True)
class PreparedTurn:
    chat_id: str
    context: TurnContext
    endpoint: Endpoint
    model_request: ModelRequest
    started_at: datetime
    fallbacks: list[str]
    session_lease: str | None = None


def cost_entry(call: ModelCall) -> dict[str, Any]:
    """A `ModelCost` entry of `Chat.costs`."""
    return {
        "type": "model",
        "model": {"provider": call.provider, "model": call.model},
        "promptTokens": call.usage.prompt_tokens,
        "completionTokens": call.usage.completion_tokens,
        "cachedPromptTokens": call.usage.cached_prompt_tokens,
        "cost": call.cost,
    }


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
        llm_timeout_seconds: float,
    ) -> None:
        self.models = models
        self.db = db
        self.leases = leases
        self.outbound = outbound
        self.providers = providers
        self.prices = prices
        self.llm_timeout_seconds = llm_timeout_seconds

    async def prepare(self, request: TurnRequest) -> PreparedTurn:
        """Looks everything up and validates it; on a session, waits for and takes its turn lease."""
        lease = None
        if request.session_id is not None:
            lease = await self.leases.acquire(request.org_id, request.session_id)
        try:
            turn = await self._prepare(request)
        except BaseException:
            if lease is not None:
                await self.leases.release(request.org_id, str(request.session_id), lease)
            raise
        turn.session_lease = lease
        return turn

    async def _prepare(self, request: TurnRequest) -> PreparedTurn:
        now = utc_now()
        context = await build_context(self.db, request, now)
        model = context.model
        provider = str(model.get("provider"))
        custom_url: str | None = None
        if provider == "custom-llm":
            custom_url = str(model.get("url") or "")
            self.outbound.check_url(custom_url, "model.url")
        endpoint = self.providers.endpoint(
            provider, url=custom_url, headers=model.get("headers") if provider == "custom-llm" else None
        )
        temperature = request.temperature if request.temperature is not None else model.get("temperature")
        max_tokens = request.max_tokens if request.max_tokens is not None else model.get("maxTokens")
        timeout = model.get("timeoutSeconds") or self.llm_timeout_seconds
        model_request = ModelRequest(
            provider=provider,
            model=str(model["model"]),
            messages=[*context.prompt, *context.history, *request.input],
            base_url=endpoint.base_url,
            api_key=endpoint.api_key,
            headers=dict(endpoint.headers),
            temperature=temperature,
            max_tokens=int(max_tokens) if max_tokens is not None else None,
            timeout_seconds=float(timeout),
            thinking_budget_tokens=thinking_budget(model),
            tools=function_definitions(model),
        )
        fallbacks = [str(name) for name in model.get("fallbackModels") or []]
        return PreparedTurn(new_id(), context, endpoint, model_request, now, fallbacks)

    async def run(self, turn: PreparedTurn, stream: bool) -> AsyncGenerator[TurnEvent, None]:
        session_id = turn.context.request.session_id
        stored = False
        try:
            async for event in self._run(turn, stream):
                stored = stored or isinstance(event, TurnCompleted)
                yield event
        finally:
            if turn.session_lease is not None and session_id is not None and not stored:
                await self.leases.release(turn.context.request.org_id, session_id, turn.session_lease)

    async def _run(self, turn: PreparedTurn, stream: bool) -> AsyncIterator[TurnEvent]:
        session_id = turn.context.request.session_id
        yield TurnStarted(turn.chat_id, session_id)
        try:
            if stream:
                reply: ModelReply | None = None
                async for item in self.models.stream(
                    turn.endpoint.adapter, turn.model_request, turn.fallbacks
                ):
                    if isinstance(item, TextChunk):
                        yield TurnDelta(turn.chat_id, 0, item.text, session_id)
                    else:
                        reply = item
                if reply is None:
                    raise UpstreamError("the model's stream ended without a reply")
            else:
                reply = await self.models.complete(turn.endpoint.adapter, turn.model_request, turn.fallbacks)
            call = self._bill(turn.model_request.provider, reply)
            output = [reply.message]
            chat = await self._store(turn, output, [call])
        except ChatloomError as error:
            yield TurnFailed(turn.chat_id, error, session_id)
            return
        except Exception as error:
            log.exception("turn %s failed", turn.chat_id)
            yield TurnFailed(turn.chat_id, error, session_id)
            return
        yield TurnCompleted(chat, output, [call])

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
        chat.update(request.extra_fields)
        chat["input"] = request.raw_input
        chat["messages"] = [*context.history, *request.input]
        chat["output"] = output
        chat["costs"] = [cost_entry(call) for call in calls]
        chat["cost"] = sum(call.cost for call in calls)
        async with self.db.write() as conn:
            await chats.insert(conn, request.org_id, turn.chat_id, chat, now)
            if request.session_id is not None and turn.session_lease is not None:
                await sessions.append_turn(
                    conn,
                    request.org_id,
                    request.session_id,
                    turn.session_lease,
                    [*request.input, *output],
                    chat["costs"],
                    now,
                )
        if request.session_id is not None:
            self.leases.released(request.session_id)
        chat["createdAt"] = chat["updatedAt"] = iso(now)
        return chat
