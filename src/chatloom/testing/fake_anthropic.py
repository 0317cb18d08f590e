"""The fake LLM's Anthropic Messages dialect: `POST .../v1/messages`, JSON or the real SSE event sequence.

Encodes a provider-neutral `FakeReply` (OpenAI-shaped tool calls and usage allowed) as Anthropic would send
it. A stream's opening (message_start, the first block's start, ping) is never cut; message_stop ends it.
A streamed reply with status 200 and an `error_body` sends that body as an `error` event after its chunks.
"""

from __future__ import annotations

import itertools
from typing import Any

import orjson

from chatloom.domain.messages import text_of
from chatloom.testing.fake_defaults import FakeAsk, unscripted_reply
from chatloom.testing.fake_dialect import FakeReply, chat_messages, split_evenly, word_count

ANTHROPIC_ATTACHMENT_KINDS = {"image": "image", "document": "file"}

ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
OPENAI_ONLY_USAGE_KEYS = frozenset(
    (
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "prompt_tokens_details",
        "completion_tokens_details",
    )
)


def sse_event(event: dict[str, Any]) -> bytes:
    return b"event: " + str(event["type"]).encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


def tool_input(arguments: Any) -> dict[str, Any]:
    """An OpenAI `arguments` string as a tool_use `input` object."""
    if not arguments:
        return {}
    try:
        parsed = orjson.loads(arguments)
    except (orjson.JSONDecodeError, TypeError):
        parsed = None
    return parsed if isinstance(parsed, dict) else {"arguments": arguments}


def message_words(message: dict[str, Any]) -> int:
    """Words of a message's text and of its tool results."""
    content = message.get("content")
    words = word_count(text_of(content))
    if isinstance(content, list):
        words += sum(
            word_count(text_of(block.get("content")))
            for block in content
            if isinstance(block, dict) and block.get("type") == "tool_result"
        )
    return words


def has_user_text(content: Any) -> bool:
    """Whether a user turn says something itself (is not only tool results)."""
    if isinstance(content, list):
        return any(isinstance(block, dict) and block.get("type") != "tool_result" for block in content)
    return True


class AnthropicMessagesDialect:
    """Anthropic Messages: `POST .../v1/messages`, a `message` object or `event:`/`data:` SSE frames."""

    stream_terminator = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'

    def __init__(self) -> None:
        self._ids = itertools.count(1)

    def handles(self, path: str) -> bool:
        return path.endswith("/v1/messages")

    def wants_stream(self, path: str, body: dict[str, Any]) -> bool:
        return body.get("stream") is True

    def default_reply(self, body: dict[str, Any]) -> FakeReply:
        return unscripted_reply(anthropic_ask(body))

    def error_body(self, status: int, message: str | None = None) -> dict[str, Any]:
        kind = ANTHROPIC_ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        text = message or f"The fake LLM was scripted to fail with HTTP {status}."
        return {"type": "error", "error": {"type": kind, "message": text}}

    def usage(self, body: dict[str, Any], reply: FakeReply) -> dict[str, Any]:
        """Scripted usage (Anthropic keys as given, OpenAI keys mapped), else deterministic counts:
        3 + words per message (the system prompt counts as one), words of the reply and its tool arguments."""
        system = text_of(body.get("system"))
        input_tokens = (3 + word_count(system) if system else 0) + sum(
            3 + message_words(message) for message in chat_messages(body)
        )
        output_tokens = word_count(reply.full_text) + sum(
            word_count(str(call.get("function", {}).get("arguments", ""))) for call in reply.tool_calls or ()
        )
        usage: dict[str, Any] = {
            "input_tokens": input_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": output_tokens,
        }
        scripted = reply.usage or {}
        if "prompt_tokens" in scripted:
            details = scripted.get("prompt_tokens_details")
            cached = details.get("cached_tokens", 0) if isinstance(details, dict) else 0
            usage["input_tokens"] = scripted["prompt_tokens"] - (cached or 0)
            usage["cache_read_input_tokens"] = cached or 0
        if "completion_tokens" in scripted:
            usage["output_tokens"] = scripted["completion_tokens"]
        usage.update((key, value) for key, value in scripted.items() if key not in OPENAI_ONLY_USAGE_KEYS)
        return usage

    def _stop_reason(self, reply: FakeReply) -> str:
        return reply.finish_reason or ("tool_use" if reply.tool_calls else "end_turn")

    def _tool_use(self, call: dict[str, Any], arguments: Any) -> dict[str, Any]:
        return {
            "type": "tool_use",
            "id": call.get("id"),
            "name": call.get("function", {}).get("name"),
            "input": arguments,
        }

    def _message(self, body: dict[str, Any], reply: FakeReply) -> dict[str, Any]:
        return {
            "id": f"msg_fake{next(self._ids):012d}",
            "type": "message",
            "role": "assistant",
            "model": reply.model or body.get("model") or "fake-model",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
        }

    def completion(self, body: dict[str, Any], reply: FakeReply) -> bytes:
        message = self._message(body, reply)
        text = reply.full_text
        message["content"].extend(thinking_block(thought, thought) for thought in reply.reasoning)
        if text or not reply.tool_calls:
            message["content"].append({"type": "text", "text": text})
        for call in reply.tool_calls or ():
            arguments = tool_input(call.get("function", {}).get("arguments"))
            message["content"].append(self._tool_use(call, arguments))
        message["stop_reason"] = self._stop_reason(reply)
        message["usage"] = self.usage(body, reply)
        return orjson.dumps(message)

    def stream_frames(self, body: dict[str, Any], reply: FakeReply) -> tuple[list[bytes], list[bytes]]:
        usage = self.usage(body, reply)
        message = self._message(body, reply)
        message["usage"] = {**usage, "output_tokens": min(1, usage["output_tokens"])}
        blocks: list[list[bytes]] = []
        for thought in reply.reasoning:
            index = len(blocks)
            start = {"type": "content_block_start", "index": index, "content_block": thinking_block("")}
            frames = [sse_event(start)]
            for delta in ({"type": "thinking_delta", "thinking": thought}, signature_delta(thought)):
                frames.append(sse_event({"type": "content_block_delta", "index": index, "delta": delta}))
            blocks.append(frames)
        pieces = reply.text_pieces
        if pieces or not reply.tool_calls:
            index = len(blocks)
            start = {
                "type": "content_block_start",
                "index": index,
                "content_block": {"type": "text", "text": ""},
            }
            frames = [sse_event(start)]
            for piece in pieces:
                delta = {"type": "text_delta", "text": piece}
                frames.append(sse_event({"type": "content_block_delta", "index": index, "delta": delta}))
            blocks.append(frames)
        for call in reply.tool_calls or ():
            index = len(blocks)
            block = self._tool_use(call, {})
            frames = [sse_event({"type": "content_block_start", "index": index, "content_block": block})]
            arguments = orjson.dumps(tool_input(call.get("function", {}).get("arguments"))).decode()
            for piece in split_evenly(arguments, 3):
                delta = {"type": "input_json_delta", "partial_json": piece}
                frames.append(sse_event({"type": "content_block_delta", "index": index, "delta": delta}))
            blocks.append(frames)
        for index, frames in enumerate(blocks):
            frames.append(sse_event({"type": "content_block_stop", "index": index}))
        opening = [sse_event({"type": "message_start", "message": message}), blocks[0][0]]
        opening.append(sse_event({"type": "ping"}))
        chunks = blocks[0][1:] + [frame for frames in blocks[1:] for frame in frames]
        if reply.error_body is not None:
            chunks.append(sse_event({"type": "error", **reply.error_body}))
            return opening, chunks
        end = {"stop_reason": self._stop_reason(reply), "stop_sequence": None}
        chunks.append(
            sse_event(
                {"type": "message_delta", "delta": end, "usage": {"output_tokens": usage["output_tokens"]}}
            )
        )
        return opening, chunks


def signature(thought: str) -> str:
    """A stand-in for the opaque signature Anthropic puts on each thinking block."""
    return f"fake-signature-{len(thought)}"


def thinking_block(thought: str, signed: str | None = None) -> dict[str, Any]:
    """A `thinking` block; `signed` given: signed as that text (a streamed block gets its signature last)."""
    return {"type": "thinking", "thinking": thought, "signature": signature(signed) if signed else ""}


def signature_delta(thought: str) -> dict[str, Any]:
    return {"type": "signature_delta", "signature": signature(thought)}


def anthropic_ask(body: dict[str, Any]) -> FakeAsk:
    """A Messages request read for the default answer (`fake_defaults`), tool results left out."""
    messages = chat_messages(body)
    ask = FakeAsk()
    ask.conversation_text = "\n".join(text_of(message.get("content")) for message in messages)
    # Tool results are not echoed here: this dialect's default answer has always ignored them (it says
    # what the last user turn with text of its own said), and tests rely on that.
    users = [m for m in messages if m.get("role") == "user" and has_user_text(m.get("content"))]
    if users:
        content = users[-1].get("content")
        ask.user_text = text_of(content)
        for block in content if isinstance(content, list) else ():
            kind = ANTHROPIC_ATTACHMENT_KINDS.get(str(block.get("type"))) if isinstance(block, dict) else None
            if kind:
                ask.attachments[kind] = ask.attachments.get(kind, 0) + 1
    for tool in body.get("tools") or ():
        if isinstance(tool, dict) and isinstance(tool.get("name"), str):
            ask.tools[tool["name"]] = tool.get("input_schema")
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        if choice.get("type") == "any":
            ask.forced_tool = ""
        elif choice.get("type") == "tool":
            ask.forced_tool = str(choice.get("name") or "")
        elif choice.get("type") == "none":
            ask.tools = {}
        ask.parallel_calls = choice.get("disable_parallel_tool_use") is not True
    config = body.get("output_config")
    output = config.get("format") if isinstance(config, dict) else body.get("output_format")  # GA, beta
    if isinstance(output, dict) and output.get("type") == "json_schema":
        ask.json_schema = output.get("schema") or {}
    return ask
