"""The fake LLM: a real HTTP server on loopback for tests and benchmarks (`FakeLLM`), and its CLI.

Replies are scripted with `FakeLLM.push(FakeReply(...))`, one per request in FIFO order; unscripted, a request
is answered as `fake_defaults` describes (tool results repeated, forced or `call:<name>` tool calls, the
minimal instance of a requested JSON schema, else "You said: <last user message>"). Embedding requests
(OpenAI `/v1/embeddings`, Gemini `:batchEmbedContents`/`:embedContent`) are answered by `fake_embeddings`
with deterministic vectors, and never use a scripted reply.
Standalone: `python -m chatloom.testing.fake_llm`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from aiohttp import web

from chatloom.domain.tokens import messages_tokens
from chatloom.testing.fake_anthropic import AnthropicMessagesDialect
from chatloom.testing.fake_dialect import FakeDialect, FakeReply, RecordedRequest, chat_messages
from chatloom.testing.fake_embeddings import FakeEmbeddings
from chatloom.testing.fake_gemini import GeminiDialect
from chatloom.testing.fake_openai import OpenAIChatDialect, context_length_error
from chatloom.testing.loopback import LoopbackServer

__all__ = ["FakeDialect", "FakeLLM", "FakeReply", "RecordedRequest", "every_dialect", "main"]

SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
JSON_HEADERS = {"Content-Type": "application/json"}
MAX_REQUEST_BYTES = 64 * 1024 * 1024
"""Requests carry images and files inline, as providers accept (aiohttp's default is 1 MiB)."""


def every_dialect() -> tuple[FakeDialect, ...]:
    """OpenAI chat completions, Anthropic Messages and Gemini, each on its own paths."""
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
        self._embeddings = FakeEmbeddings()
        self._lock = threading.Lock()
        self._replies: deque[FakeReply] = deque()
        self._requests: list[RecordedRequest] = []
        self._aborted = 0
        self.default_delay_seconds = 0.0
        """How long unscripted (default) replies wait before answering; `reset()` sets it back to 0."""
        self.context_limit_tokens: int | None = None
        """When set, an OpenAI chat request whose messages count more tokens (`chatloom.domain.tokens`, as
        chatloom counts them) is answered with OpenAI's 400 `context_length_exceeded`; `reset()` clears it."""

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
            self.context_limit_tokens = None

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
        if request.method == "POST" and self._embeddings.handles(request.path):
            return await self._embed(request)
        dialect = next((dialect for dialect in self._dialects if dialect.handles(request.path)), None)
        if dialect is None or request.method != "POST":
            message = f"The fake LLM does not serve {request.method} {request.path}."
            return json_response(404, {"error": {"message": message, "type": "invalid_request_error"}})
        try:
            body = orjson.loads(await request.clone(client_max_size=MAX_REQUEST_BYTES).read())
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            return json_response(400, dialect.error_body(400, "The request body must be a JSON object."))
        limit = self.context_limit_tokens
        tokens = (
            messages_tokens(chat_messages(body))  # type: ignore[arg-type]
            if limit is not None and isinstance(dialect, OpenAIChatDialect)
            else 0
        )
        with self._lock:
            if self._record_requests:
                self._requests.append(RecordedRequest(request.path, request.headers, body))
            if limit is not None and tokens > limit:  # a refused request uses no scripted reply
                return json_response(400, context_length_error(limit, tokens))
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

    async def _embed(self, request: web.BaseRequest) -> web.Response:
        try:
            body = orjson.loads(await request.clone(client_max_size=MAX_REQUEST_BYTES).read())
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            body = {}
        if self._record_requests:
            with self._lock:
                self._requests.append(RecordedRequest(request.path, request.headers, body))
        status, answer = self._embeddings.answer(request.path, body)
        return json_response(status, answer)

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
