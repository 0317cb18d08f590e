"""What every fake LLM dialect shares: the scripted reply (`FakeReply`), the request as received
(`RecordedRequest`), the `FakeDialect` protocol a wire format implements, and small text helpers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from multidict import CIMultiDictProxy

WORDISH_PIECE = re.compile(r"\S+\s*|\s+")


@dataclass(slots=True)
class FakeReply:
    """One scripted answer.

    `status` >= 400 answers with `error_body` (default: the dialect's error envelope). `headers` are added to
    any answer (e.g. Retry-After). `delay_seconds` passes before the response headers; `chunk_delay_seconds`
    between streamed frames. `cut_after_chunks=N` streams the opening frame (OpenAI: the role-only chunk)
    and N chunks after it, then drops the connection without the terminator.
    """

    text: str = ""
    chunks: list[str] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    usage: dict[str, Any] | None = None
    finish_reason: str | None = None
    status: int = 200
    error_body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_seconds: float = 0.0
    chunk_delay_seconds: float = 0.0
    cut_after_chunks: int | None = None
    model: str | None = None
    reasoning: list[str] = field(default_factory=list)
    """Reasoning summaries, sent the dialect's own way (OpenAI `reasoning_content`, Anthropic `thinking`
    blocks, Gemini parts marked `thought`) before the answer."""

    @property
    def full_text(self) -> str:
        return self.text or "".join(self.chunks or ())

    @property
    def text_pieces(self) -> list[str]:
        """How the text is split when streamed: `chunks`, else one piece per word with its trailing space."""
        if self.chunks is not None:
            return self.chunks
        return WORDISH_PIECE.findall(self.text)


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """A request as the fake received it; `headers` look up names case-insensitively."""

    path: str
    headers: CIMultiDictProxy[str]
    json: dict[str, Any]


class FakeDialect(Protocol):
    """One upstream wire format: which paths it serves and how replies are encoded. No transport here.

    `stream_terminator` ends a complete stream (OpenAI: `data: [DONE]`); a cut stream never gets it.
    """

    stream_terminator: bytes

    def handles(self, path: str) -> bool: ...

    def wants_stream(self, path: str, body: dict[str, Any]) -> bool: ...

    def default_reply(self, body: dict[str, Any]) -> FakeReply: ...

    def error_body(self, status: int, message: str | None = None) -> dict[str, Any]: ...

    def completion(self, body: dict[str, Any], reply: FakeReply) -> bytes: ...

    def stream_frames(self, body: dict[str, Any], reply: FakeReply) -> tuple[list[bytes], list[bytes]]:
        """A streamed reply without its terminator: (opening frames, which are never cut; chunks)."""
        ...


def chat_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    return (
        [message for message in messages if isinstance(message, dict)] if isinstance(messages, list) else []
    )


def word_count(text: str) -> int:
    return len(text.split())


def split_evenly(text: str, parts: int) -> list[str]:
    """`text` cut into at most `parts` consecutive non-empty pieces."""
    size = max(1, -(-len(text) // parts))
    return [text[start : start + size] for start in range(0, len(text), size)]
