"""One chat turn as the engine receives it, whatever API framed it, and the handle the API gets back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chatloom.domain.messages import Message
from chatloom.domain.model_options import NO_OPTIONS, ModelOptions


@dataclass(slots=True)
class TurnRequest:
    """One chat turn as the engine sees it, whatever API framed it."""

    org_id: str
    input: list[Message]
    raw_input: Any
    assistant_id: str | None = None
    assistant: dict[str, Any] | None = None
    assistant_overrides: dict[str, Any] | None = None
    previous_chat_id: str | None = None
    session_id: str | None = None
    name: str | None = None
    instructions: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    truncation: str | None = None
    """OpenAI's `truncation` ("auto" | "disabled"), overriding `model.contextManagement.strategy`."""
    squad_id: str | None = None
    squad: dict[str, Any] | None = None
    key_id: str | None = None
    """The caller's API key: its usage limits apply besides its org's."""
    stream: bool = False
    """Whether the client asked for the turn as a stream (`Chat.stream`)."""
    options: ModelOptions = NO_OPTIONS
    """Tool choice, output format, reasoning and end-user id for every model call of the turn."""
    caller_tools: tuple[dict[str, Any], ...] = ()
    """Function tools the caller defined for this turn (Vapi function tools without a server: a call to
    one ends the turn and is answered by the caller's next request)."""
    store: bool = True
    """False: the turn is served and billed, but no message content is kept once it completes."""
    metadata: dict[str, str] | None = None
    """Kept with the chat (OpenAI Responses `metadata`: at most 16 short pairs)."""
    model: str | None = None
    """Set only when nothing names an assistant: the model that answers (`engine/assistants/direct.py`)."""
    conversation_id: str | None = None
    """A conversation (the Conversations API) the turn reads as history and appends its items to."""


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
