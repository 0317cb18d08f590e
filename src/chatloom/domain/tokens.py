"""A fast token estimate of chat messages: characters / 4 plus a per-message overhead.

No vendor tokenizer works offline here (tiktoken downloads its encodings at first use), so every model is
estimated this way; the engine scales the estimate by what providers report back (`context_budget`).
"""

from __future__ import annotations

from typing import Any

import orjson

from chatloom.domain.messages import Message

CHARS_PER_TOKEN = 4
"""English prose and JSON average about 4 characters per token with OpenAI's and Anthropic's tokenizers."""
MESSAGE_OVERHEAD_TOKENS = 4
"""The role and framing tokens each message costs on the wire."""


def text_chars(content: Any) -> int:
    """Characters of a message's content: a string, or the `text` of each part (other parts count 0)."""
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        return sum(
            len(part["text"])
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return 0


def message_tokens(message: Message) -> int:
    chars = text_chars(message.get("content"))
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        chars += len(str(function.get("name", ""))) + len(str(function.get("arguments", ""))) + 16
    return MESSAGE_OVERHEAD_TOKENS + -(-chars // CHARS_PER_TOKEN)


def messages_tokens(messages: list[Message]) -> int:
    return sum(message_tokens(message) for message in messages)


def json_tokens(value: Any) -> int:
    """A rough count for tool definitions: their JSON text length / 4."""
    return -(-len(orjson.dumps(value)) // CHARS_PER_TOKEN) if value else 0
