"""Rate-limit counters in the database: one row per limited subject and fixed time window, counted by one
statement (an upsert returning the new count), so any number of processes sharing the database count
together. On PostgreSQL the table is UNLOGGED: counts are ephemeral, and a commit then waits for no WAL
flush.
"""

from __future__ import annotations

from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncConnection

from chatloom.store.tables import rate_counters

# Plain SQL, valid on PostgreSQL and SQLite (>= 3.35): the statement is the hot path of every limited request.
_UPSERT = text(
    "INSERT INTO rate_counters (bucket, window_end, hits) VALUES (:bucket, :window_end, 1) "
    "ON CONFLICT (bucket, window_end) DO UPDATE SET hits = rate_counters.hits + 1 RETURNING hits"
)


_ADD = text(
    "INSERT INTO rate_counters (bucket, window_end, hits) VALUES (:bucket, :window_end, :amount) "
    "ON CONFLICT (bucket, window_end) DO UPDATE SET hits = rate_counters.hits + :amount RETURNING hits"
)


async def increment(conn: AsyncConnection, bucket: str, window_end: int) -> int:
    """Counts one hit for `bucket` in the window ending at `window_end` (epoch seconds); returns the
    window's hits so far, this one included."""
    result = await conn.execute(_UPSERT, {"bucket": bucket, "window_end": window_end})
    return int(result.scalar_one())


async def add(conn: AsyncConnection, bucket: str, window_end: int, amount: int) -> int:
    """Adds `amount` (tokens, micro-dollars; 0 reads) to the bucket's window; returns its new total."""
    result = await conn.execute(_ADD, {"bucket": bucket, "window_end": window_end, "amount": amount})
    return int(result.scalar_one())


async def sweep(conn: AsyncConnection, before: int) -> int:
    """Deletes the windows that ended before `before`; returns how many."""
    result = await conn.execute(delete(rate_counters).where(rate_counters.c.window_end < before))
    return int(result.rowcount)
