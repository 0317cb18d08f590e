"""The adapter for Anthropic's Messages API (`POST /v1/messages`), a thin codec over one aiohttp session.

Only domain errors escape: `UpstreamError` for error statuses, `error` stream events, broken connections and
unreadable answers, `UpstreamTimeout` for slow upstreams. Keys and headers never reach logs or messages.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import aiohttp
import orjson
from multidict import CIMultiDict

from chatloom.domain.errors import UpstreamError
from chatloom.domain.events import ModelReply, TextChunk
from chatloom.domain.messages import INSTRUCTION_ROLES, Message, ToolCall, assistant_message, text_of
from chatloom.domain.model_options import NO_OPTIONS
from chatloom.domain.usage import Usage
from chatloom.providers.anthropic_options import add_options, thinking_budget
from chatloom.providers.base import ModelRequest
from chatloom.providers.content_parts import anthropic_blocks
from chatloom.providers.http_transport import (
    HttpChatProvider,
    decode_json,
    drain,
    error_detail,
    sse_data,
    token_count,
    unexpected_shape,
)

ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
THINKING_HEADROOM_TOKENS = 1024
"""Room for the visible answer when max_tokens has to be raised above the thinking budget."""
STREAM_ERROR_STATUSES = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}
"""An `error` event's type as the HTTP status it stands for, so retries treat it like a status error."""


class AnthropicProvider(HttpChatProvider):
    """`ChatProvider` for the Anthropic Messages API."""

    needs_image_bytes = True

    def url(self, request: ModelRequest, stream: bool) -> str:
        return messages_url(request)

    def headers(self, request: ModelRequest) -> CIMultiDict[str]:
        return request_headers(request)

    def body(self, request: ModelRequest, stream: bool) -> dict[str, Any]:
        return request_body(request, stream)

    def parse_reply(self, data: Any, request: ModelRequest) -> ModelReply:
        return parse_message(data, request)

    def read_stream(
        self, response: aiohttp.ClientResponse, request: ModelRequest
    ) -> AsyncGenerator[TextChunk | ModelReply, None]:
        return read_event_stream(response, request)


def messages_url(request: ModelRequest) -> str:
    """`{base}/v1/messages`; a base URL that already ends in `/v1` is not given a second one."""
    base = request.base_url.rstrip("/")
    if base.endswith("/v1"):
        base = base[:-3]
    return f"{base}/v1/messages"


def request_headers(request: ModelRequest) -> CIMultiDict[str]:
    """Key and API version, a JSON body type, then the request's own headers (which win)."""
    headers: CIMultiDict[str] = CIMultiDict()
    if request.api_key:
        headers["x-api-key"] = request.api_key
    headers["anthropic-version"] = ANTHROPIC_VERSION
    headers["content-type"] = "application/json"
    headers.update(request.headers)
    return headers


def request_body(request: ModelRequest, stream: bool) -> dict[str, Any]:
    system = [
        text
        for message in request.messages
        if message["role"] in INSTRUCTION_ROLES and (text := text_of(message.get("content")))
    ]
    body: dict[str, Any] = {"model": request.model, "messages": wire_messages(request.messages)}
    if system:
        body["system"] = "\n\n".join(system)
    max_tokens = request.max_tokens or DEFAULT_MAX_TOKENS
    budget = thinking_budget(request.options, request.thinking_budget_tokens)
    if budget:
        body["thinking"] = {"type": "enabled", "budget_tokens": budget}
        max_tokens = max(max_tokens, budget + THINKING_HEADROOM_TOKENS)
    elif request.temperature is not None:
        body["temperature"] = min(request.temperature, 1.0)
    body["max_tokens"] = max_tokens
    if request.tools:
        body["tools"] = [wire_tool(tool) for tool in request.tools]
    if request.options is not NO_OPTIONS:
        add_options(body, request.options)
    body.update(request.extra)
    if stream:
        body["stream"] = True
    return body


def wire_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """User/assistant turns with tool results as user turns; consecutive same-role turns become one."""
    turns: list[tuple[str, list[dict[str, Any]]]] = []
    for message in messages:
        role = message["role"]
        blocks: list[dict[str, Any]] = []
        if role == "tool":
            role = "user"
            result: dict[str, Any] = {"type": "tool_result", "tool_use_id": message.get("tool_call_id", "")}
            if content := text_of(message.get("content")):
                result["content"] = content
            blocks.append(result)
        elif role in ("user", "assistant"):
            parts = message.get("content")
            if type(parts) is list:
                blocks.extend(anthropic_blocks(parts))
            elif text := text_of(parts):
                blocks.append({"type": "text", "text": text})
            if role == "assistant":
                blocks.extend(tool_use_block(call) for call in message.get("tool_calls") or ())
        else:
            continue
        if not blocks:
            continue
        if turns and turns[-1][0] == role:
            turns[-1][1].extend(blocks)
        else:
            turns.append((role, blocks))
    return [
        {
            "role": role,
            "content": blocks[0]["text"] if len(blocks) == 1 and blocks[0]["type"] == "text" else blocks,
        }
        for role, blocks in turns
    ]


def tool_use_block(call: ToolCall) -> dict[str, Any]:
    function = call.get("function") or {}
    raw = function.get("arguments") or ""
    arguments: Any = {}
    if raw:
        try:
            arguments = orjson.loads(raw)
        except orjson.JSONDecodeError:
            arguments = None
        if not isinstance(arguments, dict):
            arguments = {"arguments": raw}
    return {
        "type": "tool_use",
        "id": call.get("id", ""),
        "name": function.get("name", ""),
        "input": arguments,
    }


def wire_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI function tool as an Anthropic tool; anything else (a native Anthropic tool) as given."""
    function = tool.get("function")
    if not isinstance(function, dict):
        return tool
    wire: dict[str, Any] = {"name": function.get("name", "")}
    if isinstance(function.get("description"), str):
        wire["description"] = function["description"]
    wire["input_schema"] = function.get("parameters") or {"type": "object", "properties": {}}
    return wire


def parse_message(data: Any, request: ModelRequest) -> ModelReply:
    try:
        texts: list[str] = []
        reasoning: list[str] = []
        tool_calls: list[ToolCall] = []
        for block in data["content"]:
            kind = block.get("type")
            if kind == "text":
                texts.append(block["text"])
            elif kind == "thinking" and isinstance(block.get("thinking"), str) and block["thinking"]:
                reasoning.append(block["thinking"])
            elif kind == "tool_use":
                arguments = orjson.dumps(block.get("input") or {}).decode()
                tool_calls.append(tool_call(block.get("id"), block.get("name"), arguments, len(tool_calls)))
        return ModelReply(
            message=assistant_message("".join(texts) if texts else None, tool_calls),
            usage=parse_usage(data.get("usage")),
            model=data.get("model") or request.model,
            finish_reason=data.get("stop_reason"),
            reasoning=tuple(reasoning),
        )
    except (KeyError, TypeError, AttributeError) as error:
        raise unexpected_shape(request, data) from error


def tool_call(call_id: Any, name: Any, arguments: str, position: int) -> ToolCall:
    return {
        "id": call_id if isinstance(call_id, str) and call_id else f"toolu_{position}",
        "type": "function",
        "function": {"name": str(name or ""), "arguments": arguments},
    }


def parse_usage(data: Any, into: Usage | None = None) -> Usage:
    """Anthropic `usage`, cache reads and writes counted into prompt tokens; keys absent keep `into`'s."""
    usage = into or Usage()
    if not isinstance(data, dict):
        return usage
    uncached = usage.prompt_tokens - usage.cached_prompt_tokens - usage.cache_write_tokens
    if "input_tokens" in data:
        uncached = token_count(data["input_tokens"])
    if "cache_read_input_tokens" in data:
        usage.cached_prompt_tokens = token_count(data["cache_read_input_tokens"])
    if "cache_creation_input_tokens" in data:
        usage.cache_write_tokens = token_count(data["cache_creation_input_tokens"])
    if "output_tokens" in data:
        usage.completion_tokens = token_count(data["output_tokens"])
    usage.prompt_tokens = uncached + usage.cached_prompt_tokens + usage.cache_write_tokens
    return usage


class StreamedReply:
    """Folds Messages stream events into the final `ModelReply`."""

    def __init__(self, request: ModelRequest) -> None:
        self.model = request.model
        self.text_parts: list[str] = []
        self.thinking: dict[int, list[str]] = {}
        """Thinking blocks by index, their text as streamed."""
        self.tool_calls: dict[int, dict[str, Any]] = {}
        self.usage = Usage()
        self.finish_reason: str | None = None

    def apply(self, event: dict[str, Any]) -> str | None:
        """Folds one event into the reply; returns its text, if it carries any."""
        kind = event.get("type")
        if kind == "content_block_delta":
            delta = event["delta"]
            delta_kind = delta.get("type")
            if delta_kind == "text_delta":
                return self.add_text(delta.get("text"))
            if delta_kind == "thinking_delta" and isinstance(delta.get("thinking"), str):
                self.thinking.setdefault(event.get("index", -1), []).append(delta["thinking"])
            elif delta_kind == "input_json_delta" and event.get("index") in self.tool_calls:
                self.tool_calls[event["index"]]["parts"].append(delta.get("partial_json") or "")
        elif kind == "content_block_start":
            block = event["content_block"]
            if block.get("type") == "text":
                return self.add_text(block.get("text"))
            if block.get("type") == "thinking":
                self.thinking[event["index"]] = [str(block.get("thinking") or "")]
            elif block.get("type") == "tool_use":
                self.tool_calls[event["index"]] = {
                    "id": block.get("id"),
                    "name": block.get("name"),
                    "input": block.get("input"),
                    "parts": [],
                }
        elif kind == "message_delta":
            stop_reason = (event.get("delta") or {}).get("stop_reason")
            if stop_reason:
                self.finish_reason = stop_reason
            parse_usage(event.get("usage"), self.usage)
        elif kind == "message_start":
            message = event["message"]
            parse_usage(message.get("usage"), self.usage)
            if isinstance(message.get("model"), str) and message["model"]:
                self.model = message["model"]
        return None

    def add_text(self, text: Any) -> str | None:
        if isinstance(text, str) and text:
            self.text_parts.append(text)
            return text
        return None

    def reply(self) -> ModelReply:
        tool_calls = [
            tool_call(
                call["id"],
                call["name"],
                "".join(call["parts"]) or orjson.dumps(call["input"] or {}).decode(),
                position,
            )
            for position, (_, call) in enumerate(sorted(self.tool_calls.items()))
        ]
        text = "".join(self.text_parts) if self.text_parts else None
        reasoning = tuple(
            thought for _, parts in sorted(self.thinking.items()) if (thought := "".join(parts))
        )
        return ModelReply(
            assistant_message(text, tool_calls), self.usage, self.model, self.finish_reason, reasoning
        )


async def read_event_stream(
    response: aiohttp.ClientResponse, request: ModelRequest
) -> AsyncGenerator[TextChunk | ModelReply, None]:
    """Parses stream events as they arrive; ends with one `ModelReply` once `message_stop` is read."""
    state = StreamedReply(request)
    async for payload in sse_data(response, request):
        event = decode_json(payload, request)
        if not isinstance(event, dict):
            raise unexpected_shape(request, event)
        kind = event.get("type")
        if kind == "message_stop":
            await drain(response)
            yield state.reply()
            return
        if kind == "error":
            raise stream_error(event, payload, request)
        try:
            text = state.apply(event)
        except (KeyError, TypeError, AttributeError) as error:
            raise unexpected_shape(request, event) from error
        if text is not None:
            yield TextChunk(text)
    raise UpstreamError(f"{request.provider} ended the stream early (no message_stop)")


def stream_error(event: dict[str, Any], payload: bytes, request: ModelRequest) -> UpstreamError:
    error = event.get("error")
    kind = error.get("type") if isinstance(error, dict) else None
    status = STREAM_ERROR_STATUSES.get(kind) if isinstance(kind, str) else None
    return UpstreamError(f"{request.provider} stream failed: {error_detail(event, payload)}", status=status)
