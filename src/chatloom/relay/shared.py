"""What the PostgreSQL and Redis relays share: the owning process keeps the live fan-out in memory and
writes a turn's new frames out in small batches (one write per `flush_seconds`, or one at the end of a
short turn), then notifies; a reader in another process reads the written frames after its position
and follows the notifications. A cancel request is a notification the owning process acts on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from chatloom.relay.memory import TERMINAL, MemoryRelay, StreamInfo, TurnStream

log = logging.getLogger("chatloom.relay")


class SharedRelay(MemoryRelay):
    def __init__(
        self,
        retention_seconds: float,
        heartbeat_seconds: float,
        heartbeat: bytes,
        in_flight_seconds: float,
        flush_seconds: float = 0.05,
        memory_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        super().__init__(retention_seconds, heartbeat_seconds, heartbeat, memory_bytes)
        self.in_flight_seconds = in_flight_seconds
        self.flush_seconds = flush_seconds
        self._writes: dict[str, asyncio.Task[None]] = {}
        self._subscribers: dict[str, set[asyncio.Event]] = {}

    # What each transport provides.

    async def _store(self, info: StreamInfo, first_seq: int, frames: list[bytes], expires_in: float) -> None:
        """Writes `frames` (numbered from `first_seq`) and `info`, then notifies followers, atomically."""
        raise NotImplementedError

    async def _read_info(self, org_id: str, turn_id: str) -> StreamInfo | None:
        raise NotImplementedError

    async def _read_frames(self, turn_id: str, after: int) -> list[bytes]:
        raise NotImplementedError

    async def _request_cancel(self, turn_id: str) -> None:
        raise NotImplementedError

    async def _purge(self, org_id: str, turn_id: str) -> None:
        raise NotImplementedError

    # Notifications, as the transport delivers them.

    def notified(self, payload: str) -> None:
        kind, _, turn_id = payload.partition(" ")
        if kind == "e":
            for event in self._subscribers.get(turn_id, ()):
                event.set()
        elif kind == "c":
            stream = self._streams.get(turn_id)
            if stream is not None and stream.task is not None and not stream.task.done():
                stream.task.cancel()

    # Writing.

    def published(self, stream: TurnStream) -> None:
        if stream.flush_timer is None:
            loop = asyncio.get_running_loop()
            stream.flush_timer = loop.call_later(self.flush_seconds, self._flush, stream)

    def finished(self, stream: TurnStream) -> None:
        if stream.flush_timer is not None:
            stream.flush_timer.cancel()
        self._flush(stream)
        super().finished(stream)

    def _flush(self, stream: TurnStream) -> None:
        stream.flush_timer = None
        turn_id = stream.info.turn_id
        previous = self._writes.get(turn_id)
        task = asyncio.get_running_loop().create_task(self._write(previous, stream))
        self._writes[turn_id] = task

        def done(finished: asyncio.Task[None]) -> None:
            if self._writes.get(turn_id) is finished:
                del self._writes[turn_id]

        task.add_done_callback(done)

    async def _write(self, previous: asyncio.Task[None] | None, stream: TurnStream) -> None:
        if previous is not None:
            await asyncio.wait({previous})
        start, end = stream.persisted, len(stream.frames)
        final = stream.info.status in TERMINAL
        expires_in = self.retention_seconds + (0 if final else self.in_flight_seconds)
        try:
            await self._store(stream.info, start, stream.frames[start:end], expires_in)
        except Exception:
            log.exception("could not write the stream of turn %s", stream.info.turn_id)
            return
        stream.persisted = end

    async def aclose(self) -> None:
        if self._writes:
            await asyncio.wait(set(self._writes.values()), timeout=10)

    # Reading, from any process.

    async def info(self, org_id: str, turn_id: str) -> StreamInfo | None:
        stream = self.local(org_id, turn_id)
        if stream is not None:
            return stream.info
        return await self._read_info(org_id, turn_id)

    async def follow(self, org_id: str, turn_id: str, after: int) -> AsyncIterator[bytes] | None:
        stream = self.local(org_id, turn_id)
        if stream is not None:
            return stream.follow(after, self.heartbeat_seconds, self.heartbeat)
        if await self._read_info(org_id, turn_id) is None:
            return None
        return self._follow_written(org_id, turn_id, after)

    async def _follow_written(self, org_id: str, turn_id: str, after: int) -> AsyncIterator[bytes]:
        event = asyncio.Event()
        self._subscribers.setdefault(turn_id, set()).add(event)
        try:
            while True:
                event.clear()
                frames = await self._read_frames(turn_id, after)
                if frames:
                    after += len(frames)
                    yield b"".join(frames)
                info = await self._read_info(org_id, turn_id)
                if info is None:
                    return
                if info.status in TERMINAL:
                    if after >= info.last_seq:
                        return
                    continue
                try:
                    async with asyncio.timeout(self.heartbeat_seconds):
                        await event.wait()
                except TimeoutError:
                    # Also covers a lost notification: the loop reads again either way.
                    yield self.heartbeat
        finally:
            subscribers = self._subscribers.get(turn_id)
            if subscribers is not None:
                subscribers.discard(event)
                if not subscribers:
                    del self._subscribers[turn_id]

    async def cancel(self, org_id: str, turn_id: str, wait_seconds: float = 5.0) -> StreamInfo | None:
        if self.local(org_id, turn_id) is not None:
            return await super().cancel(org_id, turn_id, wait_seconds)
        info = await self._read_info(org_id, turn_id)
        if info is None or info.status in TERMINAL:
            return info
        await self._request_cancel(turn_id)
        deadline = asyncio.get_running_loop().time() + wait_seconds
        while asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
            latest = await self._read_info(org_id, turn_id)
            if latest is None or latest.status in TERMINAL:
                return latest
            info = latest
        return info

    async def forget(self, org_id: str, turn_id: str) -> None:
        await super().forget(org_id, turn_id)
        await self._purge(org_id, turn_id)


def snapshot_of(text: str | None) -> dict[str, Any] | None:
    import orjson

    return orjson.loads(text) if text else None
