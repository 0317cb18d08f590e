"""The engine in-process, over a real database, with a scripted provider at the provider seam.

`ScriptedProvider` implements the provider protocol (`complete`, `stream`, `aclose`): it answers each model
call with the next scripted reply and records the request. A scripted step may be a function of the
request: it runs before the answer, which is how a test stages what happens while the model "thinks"
(a PATCH, a lost lease, a deleted chat) without sleeps. `world()` wires the engine the way the server does
(`api.app.build_services`), with that provider for `openai`, and a fresh org.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

from chatloom.api.app import build_services
from chatloom.api.deps import Services
from chatloom.config import Settings
from chatloom.domain.events import ModelReply, TextChunk, TurnCompleted, TurnEvent, TurnFailed
from chatloom.domain.messages import Message, ToolCall
from chatloom.domain.usage import Usage
from chatloom.engine.access.keys import KeyVerifier
from chatloom.engine.turn.request import TurnRequest
from chatloom.providers.base import ModelRequest
from chatloom.store.db import Database, create_engine, migrate
from chatloom.store.turns.writer import TurnWriter
from tests.conftest import TEST_SECRET_KEY
from tests.support.off_loop import off_loop, run_coroutine

Step = ModelReply | Callable[[ModelRequest], Awaitable[ModelReply]]
OPENAI = {"provider": "openai", "model": "gpt-4o-mini"}


def reply(
    text: str | None = None, tool_calls: list[ToolCall] | None = None, model: str = "gpt-4o-mini"
) -> ModelReply:
    message: Message = {"role": "assistant", "content": text}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return ModelReply(message, Usage(prompt_tokens=10, completion_tokens=5), model)


def call(name: str, arguments: str = "{}", call_id: str = "call_1") -> ToolCall:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


@dataclass
class ScriptedProvider:
    steps: deque[Step] = field(default_factory=deque)
    requests: list[ModelRequest] = field(default_factory=list)

    def push(self, *steps: Step) -> None:
        self.steps.extend(steps)

    async def _next(self, request: ModelRequest) -> ModelReply:
        self.requests.append(request)
        if not self.steps:
            last = next((m for m in reversed(request.messages) if m["role"] == "user"), None)
            return reply(f"You said: {last.get('content') if last else ''}")
        step = self.steps.popleft()
        return step if isinstance(step, ModelReply) else await step(request)

    async def complete(self, request: ModelRequest) -> ModelReply:
        return await self._next(request)

    async def stream(self, request: ModelRequest) -> AsyncIterator[TextChunk | ModelReply]:
        answer = await self._next(request)
        text = answer.message.get("content")
        if isinstance(text, str) and text:
            yield TextChunk(text)
        yield answer

    async def aclose(self) -> None:
        return None

    def sent(self, index: int = -1) -> list[str]:
        """What call `index` sent, as `role:content` lines."""
        return [f"{m['role']}:{m.get('content') or ''}" for m in self.requests[index].messages]


@dataclass
class World:
    db: Database
    services: Services
    provider: ScriptedProvider
    org_id: str

    async def turn(
        self, stream: bool = False, **fields: Any
    ) -> tuple[list[TurnEvent], TurnCompleted | TurnFailed]:
        """One turn through the engine (`fields` of `TurnRequest`; `input` may be a string)."""
        text = fields.pop("input", "hi")
        messages = [{"role": "user", "content": text}] if isinstance(text, str) else text
        request = TurnRequest(org_id=self.org_id, input=messages, raw_input=text, **fields)
        engine = self.services.engine
        events = [event async for event in engine.run(await engine.prepare(request), stream=stream)]
        last = events[-1]
        assert isinstance(last, TurnCompleted | TurnFailed), last
        return events, last

    async def chat(self, **fields: Any) -> dict[str, Any]:
        _, last = await self.turn(**fields)
        assert isinstance(last, TurnCompleted), last
        return last.chat

    async def assistant(self, **fields: Any) -> dict[str, Any]:
        return await self.services.assistants.create(self.org_id, {"model": dict(OPENAI), **fields})


def settings_for(url: str, **overrides: Any) -> Settings:
    return Settings(
        database_url=url,
        provider_env={"OPENAI_API_KEY": "sk-scripted"},
        secret_key=TEST_SECRET_KEY,
        llm_retry_base_seconds=0.01,
        **overrides,
    )


@asynccontextmanager
async def world(url: str, fast: bool = True, **settings: Any) -> AsyncIterator[World]:
    """The engine on the database at `url` (migrated), its turns written the fast way or the portable
    way only, for a new org."""
    db = Database(create_engine(url, pool_size=2))
    provider = ScriptedProvider()
    try:
        services = build_services(
            settings_for(url, **settings), db, adapters={"openai": provider}, turns=TurnWriter(db, fast=fast)
        )
        org_id, _ = await KeyVerifier(db).create(f"engine-{uuid4().hex[:10]}")
        yield World(db, services, provider, org_id)
    finally:
        await db.dispose()


_migrated: set[str] = set()


def run(url: str, scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Runs an async test body on a fresh event loop (in its own thread), after migrating `url` once."""
    if url not in _migrated:
        off_loop(lambda: migrate(url))
        _migrated.add(url)
    run_coroutine(scenario)
