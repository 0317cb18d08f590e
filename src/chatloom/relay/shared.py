"""What the PostgreSQL and Redis relays share. The process running a turn keeps its stream in memory and
serves its own listeners from there; it writes nothing out until another process asks for that turn (a
reader resuming there, a cancel, a status poll). The asking process sends a request notification; the
owner then writes the frames so far and, from then on, new frames in small batches (one write per
`flush_seconds`), each followed by a notification the readers follow. Streams written out expire with
the retention period; on shutdown a process writes out every stream it still keeps."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

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
        ask_seconds: float = 0.25,
    ) -> None:
        super().__init__(retention_seconds, heartbeat_seconds, heartbeat, memory_bytes)
        self.in_flight_seconds = in_flight_seconds
        self.flush_seconds = flush_seconds
        self.ask_seconds = ask_seconds
        """How long a process waits for the owner of a stream it does not know to write it out."""
        self._writes: dict[str, asyncio.Task[None]] = {}
        self._forgetting: set[asyncio.Task[None]] = set()
        self._subscribers: dict[str, set[asyncio.Event]] = {}

    # What each transport provides.

    async def _store(self, info: StreamInfo, first_seq: int, frames: list[bytes], expires_in: float) -> None:
        """Writes `frames` (numbered from `first_seq`) and `info`, then notifies followers, atomically."""
        raise NotImplementedError

    async def _read_info(self, org_id: str, turn_id: str) -> StreamInfo | None:
        raise NotImplementedError

    async def _read_frames(self, turn_id: str, after: int) -> list[bytes]:
        raise NotImplementedError

    async def _send(self, message: str) -> None:
        """Sends a notification to every process (`r <id>`: write it out; `c <id>`: cancel it; `f <id>`:
        forget it)."""
        raise NotImplementedError

    async def _purge(self, org_id: str, turn_id: str) -> None:
        raise NotImplementedError

    # Notifications, as the transport delivers them.

    def notified(self, payload: str) -> None:
        kind, _, turn_id = payload.partition(" ")
        if kind == "e":
            for event in self._subscribers.get(turn_id, ()):
                event.set()
            return
        stream = self._streams.get(turn_id)
        if stream is None:
            return
        if kind == "r":
            stream.shared = True
            self._flush(stream)
        elif kind == "c" and stream.task is not None and not stream.task.done():
            stream.task.cancel()
        elif kind == "f":
            self._drop(stream)

    # Writing, once another process asked.

    def published(self, stream: TurnStream) -> None:
        if stream.shared and stream.flush_timer is None:
            loop = asyncio.get_running_loop()
            stream.flush_timer = loop.call_later(self.flush_seconds, self._flush, stream)

    def finished(self, stream: TurnStream) -> None:
        super().finished(stream)
        if not stream.info.keep:
            if stream.flush_timer is not None:
                stream.flush_timer.cancel()
                stream.flush_timer = None
            if stream.shared or stream.persisted:  # written out while other processes followed it
                task = asyncio.get_running_loop().create_task(
                    self.forget(stream.info.org_id, stream.info.turn_id)
                )
                self._forgetting.add(task)
                task.add_done_callback(self._forgetting.discard)
            return
        if stream.shared:
            if stream.flush_timer is not None:
                stream.flush_timer.cancel()
            self._flush(stream)

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
        if stream.info.status in TERMINAL:
            expires_in = stream.expires_at - time.monotonic()
            if expires_in <= 0:
                return
        else:
            expires_in = self.retention_seconds + self.in_flight_seconds
        try:
            await self._store(stream.info, start, stream.frames[start:end], expires_in)
        except Exception:
            log.exception("could not write the stream of turn %s", stream.info.turn_id)
            return
        stream.persisted = end

    async def aclose(self) -> None:
        """Writes out every stream still kept (a restarting process's turns stay resumable elsewhere)."""
        now = time.monotonic()
        for stream in list(self._streams.values()):
            if stream.persisted < len(stream.frames) and (stream.expires_at == 0 or stream.expires_at > now):
                self._flush(stream)
        if self._writes:
            await asyncio.wait(set(self._writes.values()), timeout=10)

    # Reading, from any process.

    async def _remote_info(self, org_id: str, turn_id: str) -> StreamInfo | None:
        """The stream as written out, asking its owner to write it out first when it is not."""
        info = await self._read_info(org_id, turn_id)
        if info is not None:
            return info
        event = self._subscribe(turn_id)
        try:
            await self._send("r " + turn_id)
            try:
                async with asyncio.timeout(self.ask_seconds):
                    await event.wait()
            except TimeoutError:
                return None
        finally:
            self._unsubscribe(turn_id, event)
        return await self._read_info(org_id, turn_id)

    def _subscribe(self, turn_id: str) -> asyncio.Event:
        event = asyncio.Event()
        self._subscribers.setdefault(turn_id, set()).add(event)
        return event

    def _unsubscribe(self, turn_id: str, event: asyncio.Event) -> None:
        subscribers = self._subscribers.get(turn_id)
        if subscribers is not None:
            subscribers.discard(event)
            if not subscribers:
                del self._subscribers[turn_id]

    async def info(self, org_id: str, turn_id: str) -> StreamInfo | None:
        stream = self.local(org_id, turn_id)
        if stream is not None:
            return stream.info
        return await self._remote_info(org_id, turn_id)

    async def known(self, org_id: str, turn_id: str) -> StreamInfo | None:
        stream = self.local(org_id, turn_id)
        if stream is not None:
            return stream.info
        return await self._read_info(org_id, turn_id)

    async def follow(self, org_id: str, turn_id: str, after: int) -> AsyncIterator[bytes] | None:
        stream = self.local(org_id, turn_id)
        if stream is not None:
            return stream.follow(after, self.heartbeat_seconds, self.heartbeat)
        if await self._remote_info(org_id, turn_id) is None:
            return None
        return self._follow_written(org_id, turn_id, after)

    async def _follow_written(self, org_id: str, turn_id: str, after: int) -> AsyncIterator[bytes]:
        event = self._subscribe(turn_id)
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
            self._unsubscribe(turn_id, event)

    async def cancel(self, org_id: str, turn_id: str, wait_seconds: float = 5.0) -> StreamInfo | None:
        if self.local(org_id, turn_id) is not None:
            return await super().cancel(org_id, turn_id, wait_seconds)
        info = await self._remote_info(org_id, turn_id)
        if info is None or info.status in TERMINAL:
            return info
        event = self._subscribe(turn_id)
        try:
            await self._send("c " + turn_id)
            deadline = time.monotonic() + wait_seconds
            while time.monotonic() < deadline:
                event.clear()
                latest = await self._read_info(org_id, turn_id)
                if latest is None or latest.status in TERMINAL:
                    return latest
                info = latest
                try:
                    async with asyncio.timeout(max(deadline - time.monotonic(), 0.01)):
                        await event.wait()
                except TimeoutError:
                    break
        finally:
            self._unsubscribe(turn_id, event)
        return info

    async def forget(self, org_id: str, turn_id: str) -> None:
        if self.local(org_id, turn_id) is not None:
            await super().forget(org_id, turn_id)
        else:
            # Its owner may hold it in memory only: it must not be replayed after this.
            await self._send("f " + turn_id)
        await self._purge(org_id, turn_id)


def snapshot_of(text: str | None) -> bytes | None:
    return text.encode() if text else None
