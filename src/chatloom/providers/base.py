"""The `ChatProvider` protocol every adapter implements, and the `ModelRequest` it receives.

Adapters raise only domain errors: `UpstreamError` (the upstream answered with an error status, sent
something unreadable or cut the connection) and `UpstreamTimeout`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from chatloom.domain.events import ModelReply, TextChunk
from chatloom.domain.messages import Message
from chatloom.domain.model_options import NO_OPTIONS, ModelOptions


@dataclass(slots=True)
class ModelRequest:
    provider: str
    model: str
    messages: list[Message]
    base_url: str
    api_key: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    temperature: float | None = None
    max_tokens: int | None = None
    tools: list[dict[str, Any]] = field(default_factory=list)
    timeout_seconds: float = 60.0
    max_answer_bytes: int = 16 * 1024 * 1024
    """The most bytes read of the answer (a whole body, or a whole stream); past it the call fails."""
    thinking_budget_tokens: int | None = None
    """Extended thinking, where the provider has it (Anthropic `thinking`, Gemini `thinkingConfig`)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Provider-specific body fields, merged into the request body as given."""
    options: ModelOptions = NO_OPTIONS
    """The caller's tool choice, output format, reasoning and end-user id, in each provider's own terms
    (or refused with `Unsupported`)."""

    @property
    def secrets(self) -> tuple[str, ...]:
        """What this request sends that an answer must never echo to anyone: its key and the values of
        its headers (a custom LLM's), longest first; values too short to be secrets are left out."""
        values = {self.api_key or "", *self.headers.values()}
        return tuple(sorted((v for v in values if len(v) >= MIN_SECRET_CHARS), key=len, reverse=True))


MIN_SECRET_CHARS = 8


class ChatProvider(Protocol):
    async def complete(self, request: ModelRequest) -> ModelReply:
        """One non-streamed model call."""
        ...

    def stream(self, request: ModelRequest) -> AsyncIterator[TextChunk | ModelReply]:
        """A streamed model call: `TextChunk`s as they arrive, then exactly one `ModelReply`."""
        ...

    async def aclose(self) -> None: ...
