"""Load generation with aiohttp: `count` requests by `concurrency` workers, with latencies, CPU deltas of the
processes involved, and the time to the first SSE `data:` frame. Any non-200 answer or error frame counts
as an error and is kept out of the latencies.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

JSON_HEADERS = {"Content-Type": "application/json"}

Request = Callable[[aiohttp.ClientSession, int], Awaitable[float | None]]
"""One request made by worker `n`; returns its time to the first `data:` frame when streamed."""

CpuMeter = Callable[[], float]


class RequestFailed(Exception):
    """A request that did not end as a successful turn; the message is a short excerpt of why."""


def client_cpu_seconds() -> float:
    """CPU seconds (user + system) of this process, the load generator."""
    times = os.times()
    return times.user + times.system


@dataclass
class PhaseResult:
    """What one measured phase produced; `cpu` maps a process name to its CPU seconds during the phase."""

    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    first_tokens: list[float] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    first_error: str | None = None
    timed_out: bool = False

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    @classmethod
    def combined(cls, parts: Sequence[PhaseResult]) -> PhaseResult:
        """One result from phases that measured the same scenario in slices (times, CPU and turns added)."""
        total = cls()
        for part in parts:
            total.requests += part.requests
            total.errors += part.errors
            total.seconds += part.seconds
            total.latencies += part.latencies
            total.first_tokens += part.first_tokens
            for name, seconds in part.cpu.items():
                total.cpu[name] = total.cpu.get(name, 0.0) + seconds
            total.first_error = total.first_error or part.first_error
            total.timed_out = total.timed_out or part.timed_out
        return total

    def cpu_ms_per_turn(self, name: str) -> float | None:
        if name not in self.cpu or not self.ok:
            return None
        return self.cpu[name] * 1000 / self.ok


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of `values` (which must not be empty)."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1))
    return ordered[rank]


async def run_phase(
    session: aiohttp.ClientSession,
    request: Request,
    count: int,
    concurrency: int,
    meters: Mapping[str, CpuMeter],
    time_limit_seconds: float,
) -> PhaseResult:
    """Makes `count` requests with `concurrency` workers; stops early (and says so) after the time limit."""
    result = PhaseResult()
    started = {name: meter() for name, meter in meters.items()}
    begin = time.perf_counter()
    deadline = begin + time_limit_seconds
    remaining = count

    async def worker(number: int) -> None:
        nonlocal remaining
        while remaining > 0:
            if time.perf_counter() > deadline:
                result.timed_out = True
                return
            remaining -= 1
            sent = time.perf_counter()
            try:
                first = await request(session, number)
            except (RequestFailed, aiohttp.ClientError, OSError, TimeoutError) as error:
                result.errors += 1
                result.first_error = result.first_error or f"{type(error).__name__}: {error}"
                continue
            finally:
                result.requests += 1
            result.latencies.append(time.perf_counter() - sent)
            if first is not None:
                result.first_tokens.append(first - sent)

    await asyncio.gather(*(worker(number) for number in range(concurrency)))
    result.seconds = time.perf_counter() - begin
    result.cpu = {name: meter() - started[name] for name, meter in meters.items()}
    return result


async def post_json(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: Mapping[str, str], status: int = 200
) -> Any:
    """POSTs a JSON body; returns the decoded JSON answer, or raises RequestFailed for another status."""
    async with session.post(url, data=body, headers=headers) as response:
        raw = await response.read()
        if response.status != status:
            raise RequestFailed(f"HTTP {response.status}: {raw[:300]!r}")
    return orjson.loads(raw)


async def post_stream(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: Mapping[str, str]
) -> float:
    """POSTs a streamed request, reads the SSE stream to its end; returns when the first `data:` arrived.

    Raises RequestFailed for a non-200 answer, an error frame, or a stream not ending with `[DONE]`.
    """
    async with session.post(url, data=body, headers=headers) as response:
        if response.status != 200:
            raise RequestFailed(f"HTTP {response.status}: {(await response.read())[:300]!r}")
        first: float | None = None
        last = b""
        async for line in response.content:
            if not line.startswith(b"data:"):
                continue
            if first is None:
                first = time.perf_counter()
            if b'"error":' in line:
                raise RequestFailed(f"error frame: {line[:300]!r}")
            last = line
    if first is None or last.strip() != b"data: [DONE]":
        raise RequestFailed(f"the stream ended without [DONE] (last frame {last[:200]!r})")
    return first


@dataclass
class EventStream:
    """A stream of named SSE events (`event:` then `data:`), read to its end."""

    first: float
    """When the first event of the awaited kind (e.g. the first text delta) arrived."""
    last_event: bytes
    last_data: bytes


async def post_event_stream(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    first_event: bytes,
    failures: frozenset[bytes],
) -> EventStream:
    """POSTs a streamed request answered with named SSE events and reads them to the end of the stream.

    Only the event names are looked at on the way; the caller decodes the last event's data if it needs it.
    Raises RequestFailed for a non-200 answer, an event named in `failures`, or no `first_event` at all.
    """
    async with session.post(url, data=body, headers=headers) as response:
        if response.status != 200:
            raise RequestFailed(f"HTTP {response.status}: {(await response.read())[:300]!r}")
        first: float | None = None
        event = last_event = last_data = b""
        async for line in response.content:
            if line.startswith(b"event:"):
                event = line[6:].strip()
                if first is None and event == first_event:
                    first = time.perf_counter()
            elif line.startswith(b"data:"):
                last_event, last_data = event, line[5:].strip()
                if event in failures:
                    raise RequestFailed(f"{event.decode()} event: {last_data[:300]!r}")
    if first is None:
        raise RequestFailed(f"the stream had no {first_event.decode()} event (last {last_event!r})")
    return EventStream(first, last_event, last_data)
