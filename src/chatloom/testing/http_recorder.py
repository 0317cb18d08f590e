"""A real HTTP server on loopback that records every request and answers as scripted, for tool-server,
apiRequest and webhook tests. Any method, any path; unscripted requests get 200 `{}`.

Answers per path come from `script()` (FIFO), then the path's `on()` handler, then the default.
Runs on its own thread and event loop, like `FakeLLM`; `wait_for()` blocks until calls have arrived.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from multidict import CIMultiDictProxy

from chatloom.testing.loopback import LoopbackServer


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


class HttpRecorder(LoopbackServer):
    """The server. `start()` runs it on its own thread; `url` is `http://127.0.0.1:PORT`."""

    thread_name = "http-recorder"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self._changed = threading.Condition()
        self._calls: list[RecordedCall] = []
        self._scripts: dict[str, deque[Scripted]] = {}
        self._handlers: dict[str, Handler] = {}

    @property
    def url(self) -> str:
        return self.root_url

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
