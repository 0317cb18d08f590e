"""What a tool run needs and returns, independent of how the tool is reached."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from chatloom.domain.messages import Message, ToolCall

RESULT_LIMIT = 20_000
"""Longest tool result (characters) handed back to the model; longer results are cut with a note."""


@dataclass(slots=True)
class ToolResult:
    call: ToolCall
    content: str

    def message(self) -> Message:
        return {
            "role": "tool",
            "tool_call_id": self.call["id"],
            "name": self.call["function"]["name"],
            "content": self.content,
        }


def error_result(call: ToolCall, reason: str) -> ToolResult:
    return ToolResult(call, f"Error: {reason}")


def arguments_of(call: ToolCall) -> dict[str, Any]:
    """The call's arguments as an object; `{}` when the model sent none or something unreadable."""
    raw = call["function"].get("arguments") or "{}"
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def as_text(value: Any) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    if len(text) > RESULT_LIMIT:
        return text[:RESULT_LIMIT] + f"… [truncated, {len(text) - RESULT_LIMIT} more characters]"
    return text
