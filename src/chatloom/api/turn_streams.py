"""Streamed and background turns through the relay: the turn runs in its own task, its events are framed
once (Vapi frames or Responses events) and published to the turn's stream, and every client, the one
that started it or one resuming later from any process, follows that stream."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from typing import Protocol

from starlette.responses import Response, StreamingResponse

from chatloom.api.deps import Services
from chatloom.api.sse import SSE_HEADERS
from chatloom.domain.events import TurnCompleted, TurnDelta, TurnEvent, TurnFailed, TurnStarted
from chatloom.engine.turn.engine import PreparedTurn
from chatloom.relay.memory import StreamInfo, TurnStream

log = logging.getLogger("chatloom.turn")


class StreamFraming(Protocol):
    """Frames one turn's events; `kind` names the framing so a resume goes through the matching route."""

    kind: str

    def on_event(self, event: TurnEvent) -> list[bytes]: ...

    def closing(self) -> list[bytes]: ...

    def cancelled(self) -> list[bytes]: ...

    def snapshot(self) -> bytes | None:
        """The latest whole object of the turn (a `Response`) as JSON, if the framing has one."""


async def drive(events: AsyncIterator[TurnEvent], framing: StreamFraming, stream: TurnStream) -> None:
    status = "failed"
    try:
        async with aclosing(events) as running:  # type: ignore[type-var]
            async for event in running:
                frames = framing.on_event(event)
                if isinstance(event, TurnDelta):  # most events: nothing to note but their frames
                    pass
                elif isinstance(event, TurnStarted):
                    stream.info.status = "in_progress"
                    stream.info.snapshot = framing.snapshot()
                elif isinstance(event, TurnCompleted):
                    status = "completed"
                elif isinstance(event, TurnFailed):
                    status = "failed"
                if frames or isinstance(event, TurnStarted):
                    # Even without frames (a `/chat` turn before its first token) the start is published,
                    # so other processes see the turn, and can cancel it, while the model thinks.
                    stream.publish(frames)
                # Let the listeners send it now, not after the rest of the turn (whose next chunks may
                # already be buffered) has been worked through.
                await asyncio.sleep(0)
    except asyncio.CancelledError:
        stream.finish("cancelled", framing.cancelled(), framing.snapshot())
        raise
    except Exception:
        log.exception("a streamed turn failed")
    stream.finish(status, framing.closing(), framing.snapshot())


async def start_streamed(
    services: Services,
    turn: PreparedTurn,
    framing: StreamFraming,
    events: AsyncIterator[TurnEvent],
    background: bool,
    keep: bool = True,
) -> TurnStream:
    """Starts the turn in its own task (a client that leaves does not stop it). The task runs at once, up
    to its first wait (the model request on its way): that keeps the time to the first token short."""
    info = StreamInfo(turn.chat_id, turn.org_id, framing.kind, "queued", background, keep=keep)
    stream = services.relay.open(info)
    stream.task = services.in_flight.spawn(drive(events, framing, stream))
    await asyncio.sleep(0)
    return stream


def sse_response(frames: AsyncIterator[bytes]) -> Response:
    return StreamingResponse(frames, media_type="text/event-stream", headers=SSE_HEADERS)


def following(services: Services, stream: TurnStream) -> Response:
    relay = services.relay
    return sse_response(stream.follow(-1, relay.heartbeat_seconds, relay.heartbeat))


class Background:
    """How a route runs a turn with `background: true`: the framing its stream is kept in, and the answer
    given at once (unless the client also asked to stream)."""

    __slots__ = ("accepted", "framing")

    def __init__(
        self, framing: Callable[[], StreamFraming], accepted: Callable[[TurnStream], Response]
    ) -> None:
        self.framing = framing
        self.accepted = accepted
