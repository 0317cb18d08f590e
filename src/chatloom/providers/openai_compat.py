"""The adapter for OpenAI chat completions and every OpenAI-compatible vendor (and custom-llm).

A thin codec over one shared aiohttp session with orjson. Only domain errors escape: `UpstreamError` for
error statuses, broken connections and unreadable answers, `UpstreamTimeout` for slow upstreams.
API keys and request headers are never logged nor put into error messages.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import aiohttp
import orjson
from multidict import CIMultiDict

from chatloom.domain.encoded_messages import WIRE_KEYS, EncodedMessages, is_plain
from chatloom.domain.errors import UpstreamError
from chatloom.domain.events import ModelReply, TextChunk
from chatloom.domain.messages import Message, ToolCall, assistant_message
from chatloom.domain.model_options import NO_OPTIONS
from chatloom.domain.usage import Usage
from chatloom.providers.base import ModelRequest
from chatloom.providers.http_transport import (
    HttpChatProvider,
    decode_json,
    drain,
    error_detail,
    sse_data,
    token_count,
    unexpected_shape,
)
from chatloom.providers.openai_options import add_options, reasoning_text

OPENAI_MESSAGE_KEYS = WIRE_KEYS


class OpenAICompatibleProvider(HttpChatProvider):
    """`ChatProvider` for the OpenAI chat completions dialect. One instance serves every vendor."""

    def url(self, request: ModelRequest, stream: bool) -> str:
        return chat_completions_url(request)

    def headers(self, request: ModelRequest) -> CIMultiDict[str]:
        return request_headers(request)

    def body(self, request: ModelRequest, stream: bool) -> dict[str, Any]:
        return request_body(request, stream)

    def parse_reply(self, data: Any, request: ModelRequest) -> ModelReply:
        return parse_completion(data, request)

    def read_stream(
        self, response: aiohttp.ClientResponse, request: ModelRequest
    ) -> AsyncGenerator[TextChunk | ModelReply, None]:
        return read_event_stream(response, request)


def chat_completions_url(request: ModelRequest) -> str:
    return f"{request.base_url.rstrip('/')}/chat/completions"


def request_headers(request: ModelRequest) -> CIMultiDict[str]:
    """Bearer auth from the key, then the request's own headers (which win), and always a JSON body type."""
    headers: CIMultiDict[str] = CIMultiDict()
    if request.api_key:
        headers["Authorization"] = f"Bearer {request.api_key}"
    headers.update(request.headers)
    headers["Content-Type"] = "application/json"
    return headers


def request_body(request: ModelRequest, stream: bool) -> dict[str, Any]:
    # Usually no message has a key the wire does not take: one union of all their keys (C speed) shows it,
    # and the list goes as it is. A conversation of thousands of messages is not walked in Python.
    messages: Any = request.messages
    if isinstance(messages, EncodedMessages) and messages.json is not None and messages.plain:
        messages = orjson.Fragment(messages.json)  # a long history, encoded once (domain/encoded_messages)
    elif not is_plain(messages):
        messages = [
            message if message.keys() <= OPENAI_MESSAGE_KEYS else openai_message(message)
            for message in request.messages
        ]
    body: dict[str, Any] = {"model": request.model, "messages": messages}
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.max_tokens is not None:
        body["max_completion_tokens" if request.provider == "openai" else "max_tokens"] = request.max_tokens
    if request.tools:
        body["tools"] = request.tools
    if request.options is not NO_OPTIONS:
        add_options(body, request)
    body.update(request.extra)
    if stream:
        body["stream"] = True
        stream_options = body.get("stream_options")
        body["stream_options"] = {
            **(stream_options if isinstance(stream_options, dict) else {}),
            "include_usage": True,
        }
    return body


def openai_message(message: Message) -> dict[str, Any]:
    return {key: value for key, value in message.items() if key in OPENAI_MESSAGE_KEYS}


def parse_completion(data: Any, request: ModelRequest) -> ModelReply:
    try:
        choice = data["choices"][0]
        wire_message = choice["message"]
        tool_calls = [
            tool_call(
                call.get("id"), call["function"].get("name"), call["function"].get("arguments"), position
            )
            for position, call in enumerate(wire_message.get("tool_calls") or ())
        ]
        reasoning = reasoning_text(wire_message)
        return ModelReply(
            message=assistant_message(content_text(wire_message.get("content")), tool_calls),
            usage=parse_usage(data.get("usage")),
            model=data.get("model") or request.model,
            finish_reason=choice.get("finish_reason"),
            reasoning=(reasoning,) if reasoning else (),
        )
    except (KeyError, IndexError, TypeError, AttributeError) as error:
        raise unexpected_shape(request, data) from error


def content_text(content: Any) -> str | None:
    """The text of a message's `content`: a string, or the `text` parts of a list (as some vendors send)."""
    if isinstance(content, str) or content is None:
        return content
    if isinstance(content, list):
        return "".join(
            part["text"]
            for part in content
            if isinstance(part, dict)
            and part.get("type", "text") == "text"
            and isinstance(part.get("text"), str)
        )
    return None


def tool_call(call_id: Any, name: Any, arguments: Any, position: int) -> ToolCall:
    return {
        "id": call_id if isinstance(call_id, str) and call_id else f"call_{position}",
        "type": "function",
        "function": {"name": str(name or ""), "arguments": arguments if isinstance(arguments, str) else ""},
    }


def parse_usage(data: Any) -> Usage:
    """OpenAI `usage`; cached tokens also from DeepSeek's `prompt_cache_hit_tokens`. Odd values count as 0."""
    if not isinstance(data, dict):
        return Usage()
    prompt_details = data.get("prompt_tokens_details")
    completion_details = data.get("completion_tokens_details")
    cached = token_count(prompt_details.get("cached_tokens")) if isinstance(prompt_details, dict) else 0
    return Usage(
        prompt_tokens=token_count(data.get("prompt_tokens")),
        completion_tokens=token_count(data.get("completion_tokens")),
        cached_prompt_tokens=cached or token_count(data.get("prompt_cache_hit_tokens")),
        reasoning_tokens=(
            token_count(completion_details.get("reasoning_tokens"))
            if isinstance(completion_details, dict)
            else 0
        ),
    )


class StreamedReply:
    """Accumulates `chat.completion.chunk`s into the final `ModelReply`."""

    def __init__(self, request: ModelRequest) -> None:
        self.model = request.model
        self.text_parts: list[str] = []
        self.reasoning_parts: list[str] = []
        self.tool_calls: dict[int, dict[str, Any]] = {}
        self.usage = Usage()
        self.finish_reason: str | None = None

    def add_tool_call_fragment(self, fragment: dict[str, Any]) -> None:
        index = fragment.get("index")
        if not isinstance(index, int):
            is_new_call = fragment.get("id") and all(
                c["id"] != fragment["id"] for c in self.tool_calls.values()
            )
            index = len(self.tool_calls) if is_new_call or not self.tool_calls else max(self.tool_calls)
        call = self.tool_calls.setdefault(index, {"id": None, "name": None, "arguments": []})
        if fragment.get("id") and not call["id"]:
            call["id"] = fragment["id"]
        function = fragment.get("function") or {}
        if function.get("name") and not call["name"]:
            call["name"] = function["name"]
        if isinstance(function.get("arguments"), str):
            call["arguments"].append(function["arguments"])

    def reply(self) -> ModelReply:
        tool_calls = [
            tool_call(call["id"], call["name"], "".join(call["arguments"]), index)
            for index, call in sorted(self.tool_calls.items())
        ]
        text = "".join(self.text_parts) if self.text_parts else None
        reasoning = ("".join(self.reasoning_parts),) if self.reasoning_parts else ()
        return ModelReply(
            assistant_message(text, tool_calls), self.usage, self.model, self.finish_reason, reasoning
        )


async def read_event_stream(
    response: aiohttp.ClientResponse, request: ModelRequest
) -> AsyncGenerator[TextChunk | ModelReply, None]:
    """Parses `chat.completion.chunk`s as they arrive; ends with one `ModelReply` once `[DONE]` is read."""
    state = StreamedReply(request)
    async for payload in sse_data(response, request):
        if payload == b"[DONE]":
            await drain(response)
            yield state.reply()
            return
        chunk = decode_json(payload, request)
        if not isinstance(chunk, dict):
            raise unexpected_shape(request, chunk)
        if "error" in chunk and not chunk.get("choices"):
            raise UpstreamError(f"{request.provider} stream failed: {error_detail(chunk, payload)}")
        for text in apply_chunk(state, chunk, request):
            yield TextChunk(text)
    raise UpstreamError(f"{request.provider} ended the stream without [DONE]")


def apply_chunk(state: StreamedReply, chunk: dict[str, Any], request: ModelRequest) -> list[str]:
    """Folds one chunk into `state`; returns its non-empty text pieces."""
    texts: list[str] = []
    try:
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if isinstance(content, str) and content:
                state.text_parts.append(content)
                texts.append(content)
            if ("reasoning_content" in delta or "reasoning" in delta) and (
                reasoning := reasoning_text(delta)
            ) is not None:
                state.reasoning_parts.append(reasoning)
            for fragment in delta.get("tool_calls") or ():
                state.add_tool_call_fragment(fragment)
            if choice.get("finish_reason"):
                state.finish_reason = choice["finish_reason"]
    except (KeyError, TypeError, AttributeError) as error:
        raise unexpected_shape(request, chunk) from error
    if chunk.get("usage"):
        state.usage = parse_usage(chunk["usage"])
    if isinstance(chunk.get("model"), str) and chunk["model"]:
        state.model = chunk["model"]
    return texts
