"""Rate-limit counters in the database: one row per limited subject and fixed time window, counted by one
statement (an upsert returning the new count), so any number of processes sharing the database count
together. On PostgreSQL the table is UNLOGGED: counts are ephemeral, and a commit then waits for no WAL
flush.
"""

from __future__ import annotations

from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from chatloom.store.raw_postgres import RawPostgres
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


_PG_ADD = (
    "INSERT INTO rate_counters (bucket, window_end, hits) VALUES ($1, $2, $3) "
    "ON CONFLICT (bucket, window_end) DO UPDATE SET hits = rate_counters.hits + $3 RETURNING hits"
)
_PG_READ = "SELECT hits FROM rate_counters WHERE bucket = $1 AND window_end = $2"


class PostgresCounters:
    """The counters on PostgreSQL, over a small asyncpg pool of their own (opened at first use).

    A count is the hot path of every rate-limited request (each web chat turn): through SQLAlchemy's
    pool and statement layer it costs about 250 µs of CPU, straight on asyncpg about 50 µs. The
    statements are the same upserts as above, each its own transaction (autocommit)."""

    MAX_CONNECTIONS = 4

    def __init__(self, engine: AsyncEngine) -> None:
        self._raw = RawPostgres(engine, self.MAX_CONNECTIONS)

    async def add(self, bucket: str, window_end: int, amount: int) -> int:
        pool = await self._raw.pool()
        if amount == 0:
            found = await pool.fetchval(_PG_READ, bucket, window_end)
            return int(found or 0)
        return int(await pool.fetchval(_PG_ADD, bucket, window_end, amount))

    async def increment(self, bucket: str, window_end: int) -> int:
        return await self.add(bucket, window_end, 1)

    async def sweep(self, before: int) -> None:
        pool = await self._raw.pool()
        await pool.execute("DELETE FROM rate_counters WHERE window_end < $1", before)

    async def aclose(self) -> None:
        await self._raw.aclose()
