"""Runs streamed turns as tasks of their own, so a client that disconnects mid-stream does not cancel
the turn: it runs to completion and its chat is stored. Shutdown waits for turns still in flight."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from chatloom.domain.events import TurnEvent

log = logging.getLogger("chatloom.turn")

_END = object()


class TurnsInFlight:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Runs `work` as a task of its own, waited for at shutdown."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def detach(self, events: AsyncIterator[TurnEvent]) -> AsyncIterator[TurnEvent]:
        """Drives `events` in its own task; the returned iterator relays them while anyone listens.
        The task runs at once, up to its first wait (the model request on its way), before the caller
        goes on to send its response headers: that keeps the time to the first token short."""
        queue: asyncio.Queue[object] = asyncio.Queue()

        async def drive() -> None:
            try:
                async for event in events:
                    queue.put_nowait(event)
                    # Let the listener send it now, not after the rest of the turn (whose next chunks
                    # may already be buffered) has been worked through.
                    await asyncio.sleep(0)
            except Exception:
                log.exception("a detached turn failed")
            finally:
                queue.put_nowait(_END)

        task = asyncio.get_running_loop().create_task(drive())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        await asyncio.sleep(0)
        return self._relay(queue)

    @staticmethod
    async def _relay(queue: asyncio.Queue[object]) -> AsyncIterator[TurnEvent]:
        while True:
            item = await queue.get()
            if item is _END:
                return
            yield item  # type: ignore[misc]

    async def wait(self, grace_seconds: float) -> None:
        """Lets the turns in flight finish (for at most `grace_seconds`) before the process exits."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=grace_seconds)
