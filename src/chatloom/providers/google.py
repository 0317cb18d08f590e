"""The adapter for Google Gemini's Generative Language API (`generateContent`, `streamGenerateContent`).

A thin codec over one shared aiohttp session with orjson. Only domain errors escape: `UpstreamError` for error
statuses, blocked prompts, broken or unfinished streams and unreadable answers, `UpstreamTimeout` for slow
upstreams. The key travels only in the `x-goog-api-key` header: never in URLs, logs or error messages.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import AsyncGenerator, Iterator
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
from multidict import CIMultiDict

from chatloom.domain.errors import UpstreamError
from chatloom.domain.events import ModelReply, TextChunk
from chatloom.domain.messages import INSTRUCTION_ROLES, Message, ToolCall, assistant_message, text_of
from chatloom.domain.model_options import NO_OPTIONS
from chatloom.domain.usage import Usage
from chatloom.providers.base import ModelRequest
from chatloom.providers.content_parts import gemini_parts
from chatloom.providers.google_options import add_generation_options, add_tool_options
from chatloom.providers.http_transport import (
    HttpChatProvider,
    decode_json,
    drain,
    error_detail,
    sse_data,
    token_count,
    unexpected_shape,
)

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
API_VERSION = "v1beta"
VERSIONED_BASE = re.compile(r"/v1(?:alpha|beta)?$")
SKIP_THOUGHT_SIGNATURE = "skip_thought_signature_validator"
"""Google's documented stand-in for a `thoughtSignature` we cannot replay: our tool calls do not keep the
signature Gemini sent, and Gemini 3 rejects a replayed function call step that carries none."""


class GoogleProvider(HttpChatProvider):
    """`ChatProvider` for the Gemini API (v1beta `models/*:generateContent`)."""

    needs_image_bytes = True

    def url(self, request: ModelRequest, stream: bool) -> str:
        return generate_url(request, stream)

    def headers(self, request: ModelRequest) -> CIMultiDict[str]:
        return request_headers(request)

    def body(self, request: ModelRequest, stream: bool) -> dict[str, Any]:
        return request_body(request)

    def parse_reply(self, data: Any, request: ModelRequest) -> ModelReply:
        state = GeminiReply(request)
        state.add(data)
        if not state.answered:
            raise UpstreamError(f"{request.provider} answered without candidates")
        return state.reply()

    def read_stream(
        self, response: aiohttp.ClientResponse, request: ModelRequest
    ) -> AsyncGenerator[TextChunk | ModelReply, None]:
        return read_event_stream(response, request)

    def replay_json(self, data: Any, request: ModelRequest) -> Iterator[TextChunk | ModelReply]:
        """Gemini may answer a stream request with one response or an array of chunks."""
        state = GeminiReply(request)
        for chunk in data if isinstance(data, list) else [data]:
            for text in state.add(chunk):
                yield TextChunk(text)
        yield state.final_reply()


def generate_url(request: ModelRequest, stream: bool) -> str:
    """`{base}/v1beta/models/{model}:generateContent`, or the stream method with `alt=sse`. A base already
    ending in an API version keeps it; a model named with its collection (`models/x`, `tunedModels/x`)
    is used as given."""
    base = (request.base_url or DEFAULT_BASE_URL).rstrip("/")
    if not VERSIONED_BASE.search(base):
        base = f"{base}/{API_VERSION}"
    model = request.model if "/" in request.model else f"models/{request.model}"
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return f"{base}/{quote(model, safe='/')}:{method}"


def request_headers(request: ModelRequest) -> CIMultiDict[str]:
    """The key, a JSON body type, then the request's own headers (which win)."""
    headers: CIMultiDict[str] = CIMultiDict()
    if request.api_key:
        headers["x-goog-api-key"] = request.api_key
    headers["Content-Type"] = "application/json"
    headers.update(request.headers)
    return headers


def request_body(request: ModelRequest) -> dict[str, Any]:
    system_texts: list[str] = []
    contents: list[dict[str, Any]] = []
    call_names: dict[str, str] = {}
    for message in request.messages:
        role = message["role"]
        if role in INSTRUCTION_ROLES:
            text = text_of(message.get("content"))
            if text:
                system_texts.append(text)
            continue
        if role == "assistant":
            wire_role, parts = "model", assistant_parts(message, call_names)
        elif role == "tool":
            wire_role, parts = "user", [function_response(message, call_names)]
        elif role == "user":
            content = message.get("content")
            if type(content) is list:
                wire_role, parts = "user", gemini_parts(content)
            else:
                text = text_of(content)
                wire_role, parts = "user", [{"text": text}] if text else []
        else:
            continue
        if not parts:
            continue
        if contents and contents[-1]["role"] == wire_role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": wire_role, "parts": parts})
    body: dict[str, Any] = {"contents": contents}
    if system_texts:
        body["systemInstruction"] = {"parts": [{"text": "\n\n".join(system_texts)}]}
    options = request.options
    config = generation_config(request)
    if options is not NO_OPTIONS:
        add_generation_options(config, options)
    if config:
        body["generationConfig"] = config
    declarations = [declaration for tool in request.tools if (declaration := function_declaration(tool))]
    if options is not NO_OPTIONS:
        add_tool_options(body, declarations, options)
    if declarations:
        body["tools"] = [{"functionDeclarations": declarations}]
    body.update(request.extra)
    return body


def assistant_parts(message: Message, call_names: dict[str, str]) -> list[dict[str, Any]]:
    """Text, then one `functionCall` part per tool call; the step's first call carries a thought signature."""
    text = text_of(message.get("content"))
    parts: list[dict[str, Any]] = [{"text": text}] if text else []
    for position, call in enumerate(message.get("tool_calls") or ()):
        function = call.get("function") or {}
        name = str(function.get("name") or "")
        call_names[call["id"]] = name
        wire_call = {"id": call["id"], "name": name, "args": loads_object(function.get("arguments")) or {}}
        part: dict[str, Any] = {"functionCall": wire_call}
        if position == 0:
            part["thoughtSignature"] = SKIP_THOUGHT_SIGNATURE
        parts.append(part)
    return parts


def function_response(message: Message, call_names: dict[str, str]) -> dict[str, Any]:
    """A tool result, named after the call it answers; a JSON object result is sent as the response."""
    call_id = message.get("tool_call_id") or ""
    content = text_of(message.get("content"))
    response = loads_object(content) if content.lstrip().startswith("{") else None
    return {
        "functionResponse": {
            "name": call_names.get(call_id) or message.get("name") or "",
            "id": call_id,
            "response": response if response is not None else {"result": content},
        }
    }


def loads_object(text: Any) -> dict[str, Any] | None:
    """`text` parsed as a JSON object; None when it is empty, invalid or not an object."""
    if not isinstance(text, str) or not text:
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def generation_config(request: ModelRequest) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if request.max_tokens is not None:
        config["maxOutputTokens"] = request.max_tokens
    if request.thinking_budget_tokens is not None:
        config["thinkingConfig"] = {"thinkingBudget": request.thinking_budget_tokens}
    return config


def function_declaration(tool: dict[str, Any]) -> dict[str, Any] | None:
    """An OpenAI function-format tool as a Gemini function declaration; None for other tool kinds."""
    function = tool.get("function")
    if tool.get("type", "function") != "function" or not isinstance(function, dict):
        return None
    declaration: dict[str, Any] = {"name": function.get("name")}
    if function.get("description") is not None:
        declaration["description"] = function["description"]
    if function.get("parameters") is not None:
        declaration["parameters"] = function["parameters"]
    return declaration


def parse_usage(data: Any) -> Usage:
    """`usageMetadata`; thoughts count as completion, cached and tool-use prompt tokens as prompt."""
    if not isinstance(data, dict):
        return Usage()
    thoughts = token_count(data.get("thoughtsTokenCount"))
    return Usage(
        prompt_tokens=token_count(data.get("promptTokenCount"))
        + token_count(data.get("toolUsePromptTokenCount")),
        completion_tokens=token_count(data.get("candidatesTokenCount")) + thoughts,
        cached_prompt_tokens=token_count(data.get("cachedContentTokenCount")),
        reasoning_tokens=thoughts,
    )


def tool_call(call: dict[str, Any]) -> ToolCall:
    call_id = call.get("id")
    args = call.get("args")
    return {
        "id": call_id if isinstance(call_id, str) and call_id else f"call_{uuid.uuid4().hex[:24]}",
        "type": "function",
        "function": {
            "name": str(call.get("name") or ""),
            "arguments": orjson.dumps(args if isinstance(args, dict) else {}).decode(),
        },
    }


class GeminiReply:
    """Folds `GenerateContentResponse`s (one answer, or a stream's chunks) into the final `ModelReply`."""

    def __init__(self, request: ModelRequest) -> None:
        self.request = request
        self.model = request.model.removeprefix("models/")
        self.text_parts: list[str] = []
        self.thoughts: list[str] = []
        """Thought summaries: one per part of an answer; a stream's pieces, joined at its end."""
        self.tool_calls: list[ToolCall] = []
        self.usage = Usage()
        self.finish_reason: str | None = None
        self.answered = False

    def add(self, data: Any) -> list[str]:
        """Folds one response in; returns its non-empty, non-thought text parts."""
        request = self.request
        if not isinstance(data, dict):
            raise unexpected_shape(request, data)
        texts: list[str] = []
        try:
            candidates = data.get("candidates")
            if candidates:
                texts = self._add_candidate(candidates[0])
            elif isinstance(data.get("error"), dict):
                code = data["error"].get("code")
                raise UpstreamError(
                    f"{request.provider} answered with an error: {error_detail(data, orjson.dumps(data))}",
                    status=code if isinstance(code, int) and not isinstance(code, bool) else None,
                )
            elif (data.get("promptFeedback") or {}).get("blockReason"):
                reason = data["promptFeedback"]["blockReason"]
                raise UpstreamError(f"{request.provider} blocked the prompt: {reason}", status=400)
        except (KeyError, IndexError, TypeError, AttributeError) as error:
            raise unexpected_shape(request, data) from error
        if isinstance(data.get("usageMetadata"), dict):
            self.usage = parse_usage(data["usageMetadata"])
        if isinstance(data.get("modelVersion"), str) and data["modelVersion"]:
            self.model = data["modelVersion"]
        return texts

    def _add_candidate(self, candidate: dict[str, Any]) -> list[str]:
        self.answered = True
        texts: list[str] = []
        for part in (candidate.get("content") or {}).get("parts") or ():
            if part.get("thought") is True:
                if isinstance(part.get("text"), str) and part["text"]:
                    self.thoughts.append(part["text"])
                continue
            text = part.get("text")
            if isinstance(text, str) and text:
                texts.append(text)
            if isinstance(part.get("functionCall"), dict):
                self.tool_calls.append(tool_call(part["functionCall"]))
        self.text_parts.extend(texts)
        if candidate.get("finishReason"):
            self.finish_reason = str(candidate["finishReason"])
        return texts

    def reply(self, reasoning: tuple[str, ...] | None = None) -> ModelReply:
        text = "".join(self.text_parts) or None
        message = assistant_message(text, self.tool_calls)
        reasoning = tuple(self.thoughts) if reasoning is None else reasoning
        return ModelReply(message, self.usage, self.model, self.finish_reason, reasoning)

    def final_reply(self) -> ModelReply:
        """The reply of a finished stream: one without a `finishReason` was cut short."""
        if self.finish_reason is None:
            raise UpstreamError(f"{self.request.provider} ended the stream early (no finishReason)")
        return self.reply(("".join(self.thoughts),) if self.thoughts else ())


async def read_event_stream(
    response: aiohttp.ClientResponse, request: ModelRequest
) -> AsyncGenerator[TextChunk | ModelReply, None]:
    """Yields text as each SSE chunk arrives, then one `ModelReply` once a chunk carries `finishReason`
    (what follows it is drained) or, failing that, raises at the end of the body."""
    state = GeminiReply(request)
    async with contextlib.aclosing(sse_data(response, request)) as payloads:
        async for payload in payloads:
            for text in state.add(decode_json(payload, request)):
                yield TextChunk(text)
            if state.finish_reason is not None:
                break
    if state.finish_reason is not None:
        await drain(response)
    yield state.final_reply()
