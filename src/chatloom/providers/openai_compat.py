"""The adapter for OpenAI chat completions and every OpenAI-compatible vendor (and custom-llm).

A thin codec over one shared aiohttp session with orjson. Only domain errors escape: `UpstreamError` for
error statuses, broken connections and unreadable answers, `UpstreamTimeout` for slow upstreams.
API keys and request headers are never logged nor put into error messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import orjson
from aiohttp.abc import AbstractResolver
from multidict import CIMultiDict

from chatloom.domain.errors import UpstreamError, UpstreamTimeout
from chatloom.domain.events import ModelReply, TextChunk
from chatloom.domain.messages import Message, ToolCall, assistant_message
from chatloom.domain.usage import Usage
from chatloom.providers.base import ModelRequest

OPENAI_MESSAGE_KEYS = frozenset(("role", "content", "tool_calls", "tool_call_id", "name"))
ERROR_DETAIL_LIMIT = 500
DRAIN_AFTER_DONE_SECONDS = 1.0
"""How long to wait for the rest of the HTTP body after `[DONE]`; reading it lets the connection be reused."""


class OpenAICompatibleProvider:
    """`ChatProvider` for the OpenAI chat completions dialect. One instance serves every vendor."""

    def __init__(
        self, max_connections: int = 1000, trust_env: bool = False, resolver: AbstractResolver | None = None
    ) -> None:
        """`max_connections` bounds open upstream connections; `trust_env` honours HTTP(S)_PROXY variables;
        `resolver` (e.g. one that refuses some addresses) resolves every upstream host name."""
        self._resolver = resolver
        self._max_connections = max_connections
        self._trust_env = trust_env
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None

    async def complete(self, request: ModelRequest) -> ModelReply:
        timeout = aiohttp.ClientTimeout(total=request.timeout_seconds)
        try:
            async with self._client().post(
                chat_completions_url(request),
                data=orjson.dumps(request_body(request, stream=False)),
                headers=request_headers(request),
                timeout=timeout,
                allow_redirects=False,
            ) as response:
                raw = await response.read()
                if not 200 <= response.status < 300:
                    raise status_error(response.status, response.headers, raw)
        except TimeoutError as error:
            raise timeout_error(request) from error
        except (aiohttp.ClientError, OSError, ValueError) as error:
            raise connection_error(request, error) from error
        return parse_completion(decode_json(raw, request), request)

    async def stream(self, request: ModelRequest) -> AsyncIterator[TextChunk | ModelReply]:
        seconds = request.timeout_seconds
        timeout = aiohttp.ClientTimeout(total=None, connect=seconds, sock_read=seconds)
        try:
            async with asyncio.timeout(seconds):
                response = await self._client().post(
                    chat_completions_url(request),
                    data=orjson.dumps(request_body(request, stream=True)),
                    headers=request_headers(request),
                    timeout=timeout,
                    allow_redirects=False,
                )
        except TimeoutError as error:
            raise timeout_error(request) from error
        except (aiohttp.ClientError, OSError, ValueError) as error:
            raise connection_error(request, error) from error
        try:
            if not 200 <= response.status < 300:
                raise status_error(response.status, response.headers, await read_body(response, request))
            if response.content_type == "application/json":
                reply = parse_completion(decode_json(await read_body(response, request), request), request)
                if reply.message.get("content"):
                    yield TextChunk(str(reply.message["content"]))
                yield reply
                return
            async with contextlib.aclosing(read_event_stream(response, request)) as items:
                async for item in items:
                    yield item
        finally:
            response.release()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
        self._session = self._session_loop = None

    def _client(self) -> aiohttp.ClientSession:
        """The shared session, created in (and bound to) the running event loop."""
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._session_loop is not loop:
            connector = aiohttp.TCPConnector(limit=self._max_connections, resolver=self._resolver)
            self._session = aiohttp.ClientSession(connector=connector, trust_env=self._trust_env)
            self._session_loop = loop
        return self._session


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
    messages: list[Message | dict[str, Any]] = [
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


def decode_json(raw: bytes, request: ModelRequest) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise UpstreamError(f"{request.provider} answered with invalid JSON: {excerpt(raw)}") from error


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
        return ModelReply(
            message=assistant_message(content_text(wire_message.get("content")), tool_calls),
            usage=parse_usage(data.get("usage")),
            model=data.get("model") or request.model,
            finish_reason=choice.get("finish_reason"),
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


def token_count(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


class StreamedReply:
    """Accumulates `chat.completion.chunk`s into the final `ModelReply`."""

    def __init__(self, request: ModelRequest) -> None:
        self.model = request.model
        self.text_parts: list[str] = []
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
        return ModelReply(assistant_message(text, tool_calls), self.usage, self.model, self.finish_reason)


async def read_event_stream(
    response: aiohttp.ClientResponse, request: ModelRequest
) -> AsyncGenerator[TextChunk | ModelReply, None]:
    """Parses SSE `data:` lines as they arrive; ends with one `ModelReply` once `[DONE]` is read."""
    state = StreamedReply(request)
    pending = b""
    try:
        async for data in response.content.iter_any():
            *lines, pending = (pending + data).split(b"\n")
            for line in lines:
                if not line.startswith(b"data:"):
                    continue
                payload = line[5:].strip()
                if not payload:
                    continue
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
    except TimeoutError as error:
        raise timeout_error(request) from error
    except (aiohttp.ClientError, OSError) as error:
        raise UpstreamError(
            f"{request.provider} closed the stream midway ({type(error).__name__})"
        ) from error
    if pending.replace(b" ", b"").strip() == b"data:[DONE]":
        yield state.reply()
        return
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


async def drain(response: aiohttp.ClientResponse) -> None:
    """Reads what follows `[DONE]` so the connection returns to the pool; closes it if that takes long."""
    try:
        async with asyncio.timeout(DRAIN_AFTER_DONE_SECONDS):
            await response.content.read()
    except (TimeoutError, aiohttp.ClientError, OSError):
        response.close()


async def read_body(response: aiohttp.ClientResponse, request: ModelRequest) -> bytes:
    try:
        async with asyncio.timeout(request.timeout_seconds):
            return await response.read()
    except TimeoutError as error:
        raise timeout_error(request) from error
    except (aiohttp.ClientError, OSError) as error:
        raise connection_error(request, error) from error


def status_error(status: int, headers: Mapping[str, str], raw: bytes) -> UpstreamError:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        data = None
    return UpstreamError(
        f"HTTP {status}: {error_detail(data, raw)}", status=status, retry_after=retry_after(headers)
    )


def error_detail(data: Any, raw: bytes) -> str:
    """The upstream's own error message (`error.message`, `error`, `message` or `detail`), else the body."""
    if isinstance(data, dict):
        error = data.get("error")
        candidates = (
            error.get("message") if isinstance(error, dict) else error,
            data.get("message"),
            data.get("detail"),
        )
        for candidate in candidates:
            if isinstance(candidate, str) and candidate:
                return candidate[:ERROR_DETAIL_LIMIT]
    return excerpt(raw)


def excerpt(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace").strip()
    if len(text) > ERROR_DETAIL_LIMIT:
        return text[:ERROR_DETAIL_LIMIT] + "…"
    return text or "(empty body)"


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `Retry-After` as seconds or an HTTP date."""
    milliseconds = headers.get("retry-after-ms")
    if milliseconds:
        try:
            return max(0.0, float(milliseconds) / 1000)
        except ValueError:
            pass
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def timeout_error(request: ModelRequest) -> UpstreamTimeout:
    return UpstreamTimeout(f"{request.provider} did not answer within {request.timeout_seconds:g} seconds")


def connection_error(request: ModelRequest, error: BaseException) -> UpstreamError:
    if isinstance(error, aiohttp.ClientConnectorError):
        reason = os.strerror(error.errno) if error.errno else error.strerror or str(error)
        where = f"{error.host}:{error.port}"
        return UpstreamError(f"could not connect to {request.provider} at {where}: {reason}")
    return UpstreamError(f"{request.provider} request failed: {type(error).__name__}: {error}")


def unexpected_shape(request: ModelRequest, data: Any) -> UpstreamError:
    return UpstreamError(f"{request.provider} answered in an unexpected shape: {excerpt(orjson.dumps(data))}")
