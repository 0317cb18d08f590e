"""Events: what a provider yields during one model call, and what one chat turn yields to the API.

A provider stream yields `TextChunk`s as tokens arrive and ends with exactly one `ModelReply`.
A chat turn yields `TurnDelta`s (text for `Chat.output[output_index]`) and `TurnToolCalls` (tools the
model called), then `TurnCompleted` with the stored chat, or `TurnFailed` (nothing is stored then).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chatloom.domain.messages import Message, ToolCall
from chatloom.domain.usage import ModelCall, Usage


@dataclass(slots=True)
class TextChunk:
    """A piece of the assistant's text, forwarded to the client as it arrives."""

    text: str


@dataclass(slots=True)
class ModelReply:
    """The complete result of one model call."""

    message: Message
    usage: Usage
    model: str
    finish_reason: str | None = None
    reasoning: tuple[str, ...] = ()
    """The model's reasoning summaries (or its raw reasoning text where that is all it gives), one per
    part, where the provider returns them; shown to Responses clients as a `reasoning` output item."""


@dataclass(slots=True)
class TurnStarted:
    """The turn's context is ready and the model is being called; `chat_id` is final."""

    chat_id: str
    session_id: str | None = None


@dataclass(slots=True)
class TurnDelta:
    chat_id: str
    output_index: int
    text: str
    session_id: str | None = None


@dataclass(slots=True)
class TurnToolCalls:
    """The model asked for tools: `Chat.output[output_index]` is the assistant message with `calls`."""

    chat_id: str
    output_index: int
    calls: list[ToolCall]
    session_id: str | None = None


@dataclass(slots=True)
class TurnCompleted:
    """The turn finished and its chat is stored. `chat` is the stored record as the API shows it."""

    chat: dict[str, Any]
    output: list[Message] = field(default_factory=list)
    calls: list[ModelCall] = field(default_factory=list)


@dataclass(slots=True)
class TurnFailed:
    chat_id: str
    error: Exception
    session_id: str | None = None


TurnEvent = TurnStarted | TurnDelta | TurnToolCalls | TurnCompleted | TurnFailed
