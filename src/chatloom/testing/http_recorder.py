"""A real HTTP server on loopback that records every request and answers as scripted, for tool-server,
apiRequest and webhook tests. Any method, any path; unscripted requests get 200 `{}`.

Answers per path come from `script()` (FIFO), then the path's `on()` handler, then the default.
Runs on its own thread and event loop, like `FakeLLM`; `wait_for()` blocks until calls have arrived.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import orjson
from aiohttp import web
from multidict import CIMultiDictProxy


@dataclass(frozen=True, slots=True)
class RecordedCall:
    """A request as received; `headers` look up names case-insensitively, `json` is None if not JSON."""

    method: str
    path: str
    query: dict[str, str]
    headers: CIMultiDictProxy[str]
    body: bytes
    json: Any


@dataclass(slots=True)
class Scripted:
    """One answer: `body` is sent as is, else `json` encoded (None: an empty body). `delay_seconds` passes
    before the answer (a client that gives up meanwhile cancels it)."""

    status: int = 200
    json: Any = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_seconds: float = 0.0


Handler = Callable[[RecordedCall], Scripted]
DEFAULT_ANSWER = Scripted(json={})


class HttpRecorder:
    """The server. `start()` runs it on its own thread; `url` is `http://127.0.0.1:PORT`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self._changed = threading.Condition()
        self._calls: list[RecordedCall] = []
        self._scripts: dict[str, deque[Scripted]] = {}
        self._handlers: dict[str, Handler] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._startup_error: BaseException | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("HttpRecorder is not started")
        return self._port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def calls(self) -> list[RecordedCall]:
        """A snapshot of the calls received so far, in arrival order."""
        with self._changed:
            return list(self._calls)

    def calls_to(self, path: str) -> list[RecordedCall]:
        with self._changed:
            return [call for call in self._calls if call.path == path]

    def script(self, path: str, *answers: Scripted) -> None:
        """Queues answers for `path`, one per request, in order."""
        with self._changed:
            self._scripts.setdefault(path, deque()).extend(answers)

    def on(self, path: str, handler: Handler) -> None:
        """Computes the answers for `path` once its scripted ones are used up (runs on the server thread)."""
        with self._changed:
            self._handlers[path] = handler

    def wait_for(self, count: int, path: str | None = None, timeout: float = 5.0) -> list[RecordedCall]:
        """Blocks until `count` calls (to `path`, or to any path) have arrived; returns the first `count`.
        Raises `TimeoutError` naming how many did arrive."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                calls = [c for c in self._calls if path is None or c.path == path]
                if len(calls) >= count:
                    return calls[:count]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    where = f" to {path}" if path is not None else ""
                    raise TimeoutError(
                        f"expected {count} calls{where} within {timeout:g} s, got {len(calls)}"
                    )
                self._changed.wait(remaining)

    def reset(self) -> None:
        """Forgets calls, scripted answers not yet used and handlers."""
        with self._changed:
            self._calls.clear()
            self._scripts.clear()
            self._handlers.clear()

    def start(self) -> HttpRecorder:
        if self._thread is not None:
            raise RuntimeError("HttpRecorder is already running")
        sock = self._bind()
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        thread = threading.Thread(
            target=self._run, args=(loop, sock, ready), name=f"http-recorder:{self._port}", daemon=True
        )
        self._loop, self._thread, self._startup_error = loop, thread, None
        thread.start()
        ready.wait()
        if self._startup_error is not None:
            thread.join()
            self._loop = self._thread = None
            raise RuntimeError("HttpRecorder failed to start") from self._startup_error
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        self._loop = self._thread = None

    def __enter__(self) -> HttpRecorder:
        return self if self._thread is not None else self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._requested_port))
        self._port = int(sock.getsockname()[1])
        return sock

    def _run(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        runner: web.ServerRunner | None = None
        try:
            runner = loop.run_until_complete(self._open(sock))
        except BaseException as error:
            self._startup_error = error
            sock.close()
        ready.set()
        if runner is not None:
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    async def _open(self, sock: socket.socket) -> web.ServerRunner:
        server = web.Server(self._handle, handler_cancellation=True, access_log=None)
        runner = web.ServerRunner(server, shutdown_timeout=0.5)
        await runner.setup()
        await web.SockSite(runner, sock, backlog=1024).start()
        return runner

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        body = await request.read()
        try:
            decoded = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            decoded = None
        call = RecordedCall(request.method, request.path, dict(request.query), request.headers, body, decoded)
        with self._changed:
            self._calls.append(call)
            queued = self._scripts.get(request.path)
            answer = queued.popleft() if queued else None
            handler = self._handlers.get(request.path)
            self._changed.notify_all()
        if answer is None and handler is not None:
            try:
                answer = handler(call)
            except Exception as error:
                text = f"the recorder's handler for {request.path} raised {type(error).__name__}: {error}"
                return web.Response(status=500, text=text)
        answer = answer or DEFAULT_ANSWER
        if answer.delay_seconds > 0:
            await asyncio.sleep(answer.delay_seconds)
        headers = dict(answer.headers)
        if answer.body is not None:
            payload = answer.body
        elif answer.json is not None:
            payload = orjson.dumps(answer.json)
            if not any(name.lower() == "content-type" for name in headers):
                headers["Content-Type"] = "application/json"
        else:
            payload = b""
        return web.Response(status=answer.status, body=payload, headers=headers)
