"""The in-process relay: each streamed turn's frames live in the process that runs it, readers wait on
them there. Finished streams are kept for the retention period or until their bytes exceed the memory
budget (oldest first); the shared relays subclass this and add persistence and cross-process reads."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

TERMINAL = frozenset({"completed", "failed", "cancelled"})


@dataclass(slots=True)
class StreamInfo:
    """What is known about one turn's stream. `kind` names its framing ("chat": Vapi frames, "response":
    OpenAI Responses events); `snapshot` is the latest whole object the framing keeps (a `Response`), as
    JSON: kept streams then hold no objects the garbage collector has to walk."""

    turn_id: str
    org_id: str
    kind: str
    status: str
    background: bool
    snapshot: bytes | None = None
    last_seq: int = -1
    keep: bool = True
    """False for a turn that must leave nothing behind (`store: false`): its frames go to the readers
    following it and are dropped as soon as it ends."""


class TurnStream:
    """One turn's frames in the process that runs it. Frame `n` has sequence number `n`."""

    __slots__ = (
        "_relay",
        "_waiters",
        "expires_at",
        "flush_timer",
        "frames",
        "info",
        "persisted",
        "shared",
        "size",
        "task",
    )

    def __init__(self, info: StreamInfo, relay: MemoryRelay) -> None:
        self.info = info
        self.frames: list[bytes] = []
        self.size = 0
        self.task: asyncio.Task[Any] | None = None
        self.persisted = 0
        """How many frames a shared relay has written out."""
        self.flush_timer: asyncio.TimerHandle | None = None
        self.shared = False
        """Whether another process asked for this stream: a shared relay then writes it out as it grows."""
        self.expires_at = 0.0
        """When a finished stream stops being kept (`time.monotonic()`)."""
        self._relay = relay
        self._waiters: list[asyncio.Future[bool]] = []

    def publish(self, frames: list[bytes]) -> None:
        self.frames.extend(frames)
        self.info.last_seq = len(self.frames) - 1
        self._wake()
        self._relay.published(self)

    def finish(self, status: str, frames: list[bytes], snapshot: bytes | None) -> None:
        if self.info.status in TERMINAL:
            return
        self.frames.extend(frames)
        self.info.last_seq = len(self.frames) - 1
        self.info.status = status
        self.info.snapshot = snapshot
        self.task = None  # nothing left to cancel; kept streams hold no finished task
        self.size = sum(len(frame) for frame in self.frames)
        self._wake()
        self._relay.finished(self)

    def _wake(self) -> None:
        if self._waiters:
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(True)

    async def follow(self, after: int, heartbeat_seconds: float, heartbeat: bytes) -> AsyncIterator[bytes]:
        """Every frame after sequence number `after`, then the live remainder until the turn ends;
        `heartbeat` whenever nothing was sent for `heartbeat_seconds`. Frames already there go as one
        chunk. One timer per follower (re-armed only when it fires), not one per wait."""
        loop = asyncio.get_running_loop()
        position = max(after + 1, 0)
        sent_at = loop.time()
        waiter: asyncio.Future[bool] | None = None
        timer: asyncio.TimerHandle

        def beat() -> None:
            nonlocal timer
            due, now = sent_at + heartbeat_seconds, loop.time()
            if now < due:
                timer = loop.call_at(due, beat)
            elif waiter is not None and not waiter.done():
                waiter.set_result(False)  # the follower sends the heartbeat and re-arms the timer
            else:
                timer = loop.call_at(now + heartbeat_seconds, beat)

        timer = loop.call_at(sent_at + heartbeat_seconds, beat)
        try:
            while True:
                frames = self.frames
                if position < len(frames):
                    chunk = frames[position] if position == len(frames) - 1 else b"".join(frames[position:])
                    position = len(frames)
                    sent_at = loop.time()
                    yield chunk
                    continue
                if self.info.status in TERMINAL:
                    return
                waiter = loop.create_future()
                self._waiters.append(waiter)
                woken = await waiter
                waiter = None
                if not woken:
                    sent_at = loop.time()
                    timer = loop.call_at(sent_at + heartbeat_seconds, beat)
                    yield heartbeat
        finally:
            timer.cancel()


class MemoryRelay:
    """Streams of this process only (SQLite deployments run one process)."""

    def __init__(
        self,
        retention_seconds: float,
        heartbeat_seconds: float,
        heartbeat: bytes,
        memory_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.retention_seconds = retention_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self.heartbeat = heartbeat
        self.memory_bytes = memory_bytes
        self._streams: dict[str, TurnStream] = {}
        self._finished: OrderedDict[str, float] = OrderedDict()
        self._finished_bytes = 0

    async def start(self) -> None:
        """Opens what the relay needs (connections, listeners); nothing in-process."""

    async def aclose(self) -> None:
        """Closes what `start()` opened."""

    def open(self, info: StreamInfo) -> TurnStream:
        stream = TurnStream(info, self)
        self._streams[info.turn_id] = stream
        return stream

    def published(self, stream: TurnStream) -> None:
        """Called after each `publish`; the shared relays schedule a write here."""

    def finished(self, stream: TurnStream) -> None:
        if not stream.info.keep:  # its readers hold the stream itself and read it to its end
            self._streams.pop(stream.info.turn_id, None)
            return
        now = time.monotonic()
        stream.expires_at = now + self.retention_seconds
        self._finished[stream.info.turn_id] = stream.expires_at
        self._finished_bytes += stream.size
        self._evict(now)

    def _evict(self, now: float) -> None:
        finished = self._finished
        while finished:
            turn_id, expires = next(iter(finished.items()))
            if expires > now and self._finished_bytes <= self.memory_bytes:
                return
            finished.popitem(last=False)
            stream = self._streams.pop(turn_id, None)
            if stream is not None:
                self._finished_bytes -= stream.size

    def local(self, org_id: str, turn_id: str) -> TurnStream | None:
        self._evict(time.monotonic())
        stream = self._streams.get(turn_id)
        if stream is None or stream.info.org_id != org_id:
            return None
        return stream

    async def info(self, org_id: str, turn_id: str) -> StreamInfo | None:
        """The stream's state, wherever it is kept (a shared relay may ask the other processes)."""
        stream = self.local(org_id, turn_id)
        return stream.info if stream is not None else None

    async def known(self, org_id: str, turn_id: str) -> StreamInfo | None:
        """The stream's state when this process can tell without asking the others."""
        return await MemoryRelay.info(self, org_id, turn_id)

    async def follow(self, org_id: str, turn_id: str, after: int) -> AsyncIterator[bytes] | None:
        """The frames after `after` and the live remainder, or None for a stream not (or no longer) kept."""
        stream = self.local(org_id, turn_id)
        if stream is None:
            return None
        return stream.follow(after, self.heartbeat_seconds, self.heartbeat)

    async def cancel(self, org_id: str, turn_id: str, wait_seconds: float = 5.0) -> StreamInfo | None:
        """Stops a turn in flight (its task ends as cancelled); returns its info once it has ended."""
        stream = self.local(org_id, turn_id)
        if stream is None:
            return None
        task = stream.task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=wait_seconds)
        return stream.info

    async def forget(self, org_id: str, turn_id: str) -> None:
        """Drops a stream's frames (its chat was deleted)."""
        stream = self.local(org_id, turn_id)
        if stream is not None:
            self._drop(stream)

    def _drop(self, stream: TurnStream) -> None:
        if stream.task is not None and not stream.task.done():
            stream.task.cancel()
        turn_id = stream.info.turn_id
        self._streams.pop(turn_id, None)
        if self._finished.pop(turn_id, None) is not None:
            self._finished_bytes -= stream.size
