"""Chat messages in the OpenAI chat shape, kept as plain dicts so they cross layers without copying.

A message always has `role`; `content` is a string, None, or a list of content parts (text, images and
files: `domain/attachments.py`); assistant messages may carry `tool_calls`,
tool messages carry `tool_call_id`. Provider adapters translate to and from their own wire formats.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

INSTRUCTION_ROLES: frozenset[str] = frozenset(("system", "developer"))
"""Roles whose messages instruct the model (Liquid-rendered; a provider's system prompt)."""


class ToolCallFunction(TypedDict):
    name: str
    arguments: str


class ToolCall(TypedDict):
    id: str
    type: Literal["function"]
    function: ToolCallFunction


class Message(TypedDict):
    role: str
    content: NotRequired[str | list[dict[str, Any]] | None]
    tool_calls: NotRequired[list[ToolCall]]
    tool_call_id: NotRequired[str]
    name: NotRequired[str]
    metadata: NotRequired[dict[str, Any]]


def assistant_message(text: str | None, tool_calls: list[ToolCall] | None = None) -> Message:
    message: Message = {"role": "assistant", "content": text}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return message


def text_of(content: Any) -> str:
    """A message's content as text: a string, or the `text` of each part of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""
