"""Rate limits: fixed windows, one count per request, over a counter chosen in app.py.

A `Limit` names what is limited and how much; `RateLimiter.hit` counts one request of a subject (e.g. a
public key and a client address) and raises `RateLimited` with the seconds left in the window.
On PostgreSQL, `store.rate_counters.PostgresCounters` counts in the shared table, one upsert per request
straight on asyncpg, so a limit holds across server processes; on SQLite, `DatabaseCounter` counts usage
limits in the same table (budgets survive restarts) and `MemoryCounter` counts web chat turns in this
process (a database write per request would cost more than the rest of the check);
`redis_counter.RedisCounter` counts in Redis when `CHATLOOM_REDIS_URL` is set (app.py chooses).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from chatloom.domain.errors import RateLimited

SWEEP_EVERY_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Limit:
    name: str
    """Says what is limited, in messages and in the counter's bucket (e.g. "web chat turns")."""
    hits: int
    window_seconds: int = 60


class Counter(Protocol):
    async def increment(self, bucket: str, window_end: int) -> int:
        """Counts one hit in the bucket's window; returns the window's hits so far, this one included."""
        ...

    async def add(self, bucket: str, window_end: int, amount: int) -> int:
        """Adds `amount` to the bucket's window (0 reads it); returns the window's total."""
        ...

    async def sweep(self, before: int) -> None:
        """Forgets the windows that ended before `before` (epoch seconds)."""
        ...


class RateLimiter:
    def __init__(self, counter: Counter, clock: Callable[[], float] = time.time) -> None:
        self.counter = counter
        self.clock = clock
        self._next_sweep = 0.0

    async def hit(self, limit: Limit, subject: str) -> None:
        """Counts one request of `subject` against `limit`; raises RateLimited once it is over."""
        now = self.clock()
        window_end = (int(now) // limit.window_seconds + 1) * limit.window_seconds
        hits = await self.counter.increment(f"{limit.name}:{subject}"[:255], window_end)
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_EVERY_SECONDS
            await self.counter.sweep(before=int(now))
        if hits > limit.hits:
            retry_after = max(1, math.ceil(window_end - now))
            raise RateLimited(
                f"Too many {limit.name}: at most {limit.hits} per {limit.window_seconds} seconds; "
                f"try again in {retry_after} seconds",
                retry_after_seconds=retry_after,
            )
