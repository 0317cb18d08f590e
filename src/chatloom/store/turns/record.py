"""What a finished turn hands the store: the chat, the messages it adds to its conversation, where that
conversation ended when the turn read it, and, on a session, the lease it holds and how the session's
document changes. The engine builds it; the store decides how to write it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chatloom.domain.messages import Message
from chatloom.store.documents import Document

LogEnd = tuple[str | None, int]
"""The first `length` messages of a log (no log while there are none)."""


@dataclass(frozen=True, slots=True)
class SessionRevision:
    """A session's stored document after a turn, its total cost, and how long it stays open."""

    body: Document
    cost: float
    expiration_seconds: float


@dataclass(frozen=True, slots=True)
class SessionTurn:
    """A turn on a session: the lease it holds (`owner`), the session's row as that lease found it, and
    how the turn changes the session's document (`revise`, given the document as stored when written)."""

    session_id: str
    owner: str
    row: Any
    revise: Callable[[Document], SessionRevision]


@dataclass(frozen=True, slots=True)
class TurnRecord:
    org_id: str
    chat_id: str
    chat: Document
    """The chat's document; its `messages` and `output` are stored in the conversation's log."""
    added: list[Message]
    """What the turn adds to the conversation: (a summary,) its input, then its output."""
    base: LogEnd
    """Where the history the turn saw ends; (None, 0) for a new conversation."""
    history: list[Message]
    """That history: a turn whose base is gone starts a new log with a copy of it."""
    at: datetime
    continues: str | None = None
    """The chat the turn continues (`previousChatId`)."""
    session: SessionTurn | None = None
    conversation: str | None = None
    """A conversation (OpenAI's Conversations API) the turn's messages are appended to."""

    @property
    def new_conversation(self) -> bool:
        return self.session is None and self.conversation is None and self.base == (None, 0)
