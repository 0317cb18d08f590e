"""A real HTTP LLM server on loopback for tests and benchmarks, speaking OpenAI chat completions.

Replies are scripted with `FakeLLM.push(FakeReply(...))` and consumed in FIFO order, one per request; with an
empty queue a request is answered "You said: <last user message>". Each wire format is a `FakeDialect` codec
(today `OpenAIChatDialect`); `FakeLLM` owns the transport. Standalone: `python -m chatloom.testing.fake_llm`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from aiohttp import web
from multidict import CIMultiDictProxy

from chatloom.domain.messages import text_of
from chatloom.testing.loopback import LoopbackServer

WORDISH_PIECE = re.compile(r"\S+\s*|\s+")
SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
JSON_HEADERS = {"Content-Type": "application/json"}


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


OPENAI_ERROR_KINDS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}


class OpenAIChatDialect:
    """OpenAI chat completions: `POST .../chat/completions`, JSON or SSE `chat.completion.chunk` frames."""

    stream_terminator = b"data: [DONE]\n\n"

    def __init__(self) -> None:
        self._ids = itertools.count(1)

    def handles(self, path: str) -> bool:
        return path.endswith("/chat/completions")

    def wants_stream(self, path: str, body: dict[str, Any]) -> bool:
        return body.get("stream") is True

    def default_reply(self, body: dict[str, Any]) -> FakeReply:
        user_texts = [
            text_of(message.get("content")) for message in chat_messages(body) if message["role"] == "user"
        ]
        return FakeReply(text=f"You said: {user_texts[-1] if user_texts else ''}")

    def error_body(self, status: int, message: str | None = None) -> dict[str, Any]:
        kind, code = OPENAI_ERROR_KINDS.get(
            status, ("server_error" if status >= 500 else "invalid_request_error", None)
        )
        text = message or f"The fake LLM was scripted to fail with HTTP {status}."
        return {"error": {"message": text, "type": kind, "param": None, "code": code}}

    def usage(self, body: dict[str, Any], reply: FakeReply) -> dict[str, Any]:
        """Scripted usage, completed with deterministic counts: 3 + words per message, words of the reply."""
        prompt_tokens = sum(
            3 + word_count(text_of(message.get("content"))) for message in chat_messages(body)
        )
        completion_tokens = word_count(reply.full_text) + sum(
            word_count(str(call.get("function", {}).get("arguments", ""))) for call in reply.tool_calls or ()
        )
        usage: dict[str, Any] = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}
        usage.update(reply.usage or {})
        usage.setdefault("total_tokens", usage["prompt_tokens"] + usage["completion_tokens"])
        return usage

    def _envelope(self, body: dict[str, Any], reply: FakeReply, kind: str) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-fake{next(self._ids)}",
            "object": kind,
            "created": int(time.time()),
            "model": reply.model or body.get("model") or "fake-model",
            "system_fingerprint": "fp_fake",
        }

    def _finish_reason(self, reply: FakeReply) -> str:
        return reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")

    def completion(self, body: dict[str, Any], reply: FakeReply) -> bytes:
        text = reply.full_text
        message: dict[str, Any] = {
            "role": "assistant",
            "content": text if text or not reply.tool_calls else None,
            "refusal": None,
        }
        if reply.tool_calls:
            message["tool_calls"] = reply.tool_calls
        payload = self._envelope(body, reply, "chat.completion")
        payload["choices"] = [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": self._finish_reason(reply)}
        ]
        payload["usage"] = self.usage(body, reply)
        return orjson.dumps(payload)

    def stream_frames(self, body: dict[str, Any], reply: FakeReply) -> tuple[list[bytes], list[bytes]]:
        envelope = self._envelope(body, reply, "chat.completion.chunk")
        stream_options = body.get("stream_options")
        include_usage = isinstance(stream_options, dict) and stream_options.get("include_usage") is True

        def frame(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
            chunk = dict(envelope)
            chunk["choices"] = [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ]
            if include_usage:
                chunk["usage"] = None
            return b"data: " + orjson.dumps(chunk) + b"\n\n"

        pieces = reply.text_pieces
        first_content = "" if pieces or not reply.tool_calls else None
        opening = [frame({"role": "assistant", "content": first_content, "refusal": None})]
        frames = [frame({"content": piece}) for piece in pieces]
        for index, call in enumerate(reply.tool_calls or ()):
            function = call.get("function", {})
            named = {"name": function.get("name"), "arguments": ""}
            fragment = {"index": index, "id": call.get("id"), "type": "function", "function": named}
            frames.append(frame({"tool_calls": [fragment]}))
            for piece in split_evenly(str(function.get("arguments", "")), 3):
                frames.append(frame({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
        frames.append(frame({}, self._finish_reason(reply)))
        if include_usage:
            usage_chunk = dict(envelope, choices=[], usage=self.usage(body, reply))
            frames.append(b"data: " + orjson.dumps(usage_chunk) + b"\n\n")
        return opening, frames


def every_dialect() -> tuple[FakeDialect, ...]:
    """OpenAI chat completions, Anthropic Messages and Gemini, each on its own paths."""
    from chatloom.testing.fake_anthropic import AnthropicMessagesDialect
    from chatloom.testing.fake_gemini import GeminiDialect

    return (OpenAIChatDialect(), AnthropicMessagesDialect(), GeminiDialect())


class FakeLLM(LoopbackServer):
    """The server. `start()` runs it on its own thread and event loop; `push()` scripts replies."""

    thread_name = "fake-llm"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        record_requests: bool = True,
        dialects: Sequence[FakeDialect] | None = None,
    ) -> None:
        """`dialects` are tried in order for each request path (default: every dialect this module knows)."""
        super().__init__(host, port)
        self._record_requests = record_requests
        self._dialects: tuple[FakeDialect, ...] = tuple(dialects) if dialects else every_dialect()
        self._lock = threading.Lock()
        self._replies: deque[FakeReply] = deque()
        self._requests: list[RecordedRequest] = []
        self._aborted = 0
        self.default_delay_seconds = 0.0
        """How long unscripted (default) replies wait before answering; `reset()` sets it back to 0."""

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL (`.../v1`); clients append `/chat/completions`."""
        return f"{self.root_url}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the requests received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def aborted_streams(self) -> int:
        """How many streamed answers the client dropped before their end (since the last `reset()`)."""
        with self._lock:
            return self._aborted

    def push(self, *replies: FakeReply) -> None:
        with self._lock:
            self._replies.extend(replies)

    def reset(self) -> None:
        """Forget scripted replies not yet consumed and the recorded requests."""
        with self._lock:
            self._replies.clear()
            self._requests.clear()
            self._aborted = 0
            self.default_delay_seconds = 0.0

    async def serve_forever(self, on_ready: Callable[[FakeLLM], None] | None = None) -> None:
        """Serve on the running event loop until cancelled (the standalone process)."""
        runner = await self._open(self._bind())
        try:
            if on_ready is not None:
                on_ready(self)
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        dialect = next((dialect for dialect in self._dialects if dialect.handles(request.path)), None)
        if dialect is None or request.method != "POST":
            message = f"The fake LLM does not serve {request.method} {request.path}."
            return json_response(404, {"error": {"message": message, "type": "invalid_request_error"}})
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            return json_response(400, dialect.error_body(400, "The request body must be a JSON object."))
        with self._lock:
            if self._record_requests:
                self._requests.append(RecordedRequest(request.path, request.headers, body))
            reply = self._replies.popleft() if self._replies else None
        if reply is None:
            reply = dialect.default_reply(body)
            reply.delay_seconds = self.default_delay_seconds
        if reply.delay_seconds > 0:
            await asyncio.sleep(reply.delay_seconds)
        if reply.status >= 400:
            error = reply.error_body if reply.error_body is not None else dialect.error_body(reply.status)
            return json_response(reply.status, error, reply.headers)
        if dialect.wants_stream(request.path, body):
            return await self._stream(request, dialect, body, reply)
        return web.Response(
            status=reply.status,
            body=dialect.completion(body, reply),
            headers={**JSON_HEADERS, **reply.headers},
        )

    async def _stream(
        self, request: web.BaseRequest, dialect: FakeDialect, body: dict[str, Any], reply: FakeReply
    ) -> web.StreamResponse:
        response = web.StreamResponse(status=reply.status, headers={**SSE_HEADERS, **reply.headers})
        finished = False
        try:
            with contextlib.suppress(ConnectionResetError):
                await self._write_stream(request, response, dialect, body, reply)
                finished = True
        finally:
            if not finished:
                with self._lock:
                    self._aborted += 1
        return response

    async def _write_stream(
        self,
        request: web.BaseRequest,
        response: web.StreamResponse,
        dialect: FakeDialect,
        body: dict[str, Any],
        reply: FakeReply,
    ) -> None:
        opening, chunks = dialect.stream_frames(body, reply)
        cut = reply.cut_after_chunks
        await response.prepare(request)
        if cut is None and reply.chunk_delay_seconds <= 0:
            await response.write(b"".join(opening) + b"".join(chunks) + dialect.stream_terminator)
        else:
            for position, frame in enumerate(opening + chunks[:cut]):
                if position and reply.chunk_delay_seconds > 0:
                    await asyncio.sleep(reply.chunk_delay_seconds)
                await response.write(frame)
            if cut is not None:
                if request.transport is not None:
                    request.transport.abort()
                return
            await asyncio.sleep(reply.chunk_delay_seconds)
            await response.write(dialect.stream_terminator)
        await response.write_eof()


def json_response(
    status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps(payload), headers={**JSON_HEADERS, **(headers or {})}
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m chatloom.testing.fake_llm",
        description="Serve the fake LLM's default reply ('You said: ...') until interrupted.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=9100, help="port to listen on (default: 9100; 0 picks a free one)"
    )
    args = parser.parse_args(argv)
    fake = FakeLLM(args.host, args.port, record_requests=False)
    serving = fake.serve_forever(lambda server: print(f"fake LLM serving at {server.base_url}", flush=True))
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    with contextlib.suppress(ImportError):
        import uvloop

        loop_factory = uvloop.new_event_loop
    with contextlib.suppress(KeyboardInterrupt), asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(serving)


if __name__ == "__main__":
    main()
