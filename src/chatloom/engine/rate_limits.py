"""Rate limits over the shared counter table: fixed windows, one counting statement per request.

A `Limit` names what is limited and how much; `RateLimiter.hit` counts one request of a subject (e.g.
a public key and a client address) and raises `RateLimited` with the seconds left in the window.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from chatloom.domain.errors import RateLimited
from chatloom.store import rate_counters
from chatloom.store.db import Database

SWEEP_EVERY_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Limit:
    name: str
    """Says what is limited, in messages and in the counter's bucket (e.g. "web chat turns")."""
    hits: int
    window_seconds: int = 60


class RateLimiter:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock
        self._next_sweep = 0.0

    async def hit(self, limit: Limit, subject: str) -> None:
        """Counts one request of `subject` against `limit`; raises RateLimited once it is over."""
        now = self.clock()
        window_end = (int(now) // limit.window_seconds + 1) * limit.window_seconds
        bucket = f"{limit.name}:{subject}"[:255]
        async with self.db.write(starts_with_write=True) as conn:
            hits = await rate_counters.increment(conn, bucket, window_end)
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_EVERY_SECONDS
            async with self.db.write(starts_with_write=True) as conn:
                await rate_counters.sweep(conn, before=int(now))
        if hits > limit.hits:
            retry_after = max(1, math.ceil(window_end - now))
            raise RateLimited(
                f"Too many {limit.name}: at most {limit.hits} per {limit.window_seconds} seconds; "
                f"try again in {retry_after} seconds",
                retry_after_seconds=retry_after,
            )
