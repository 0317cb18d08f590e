"""Rate-limit counters in the database: one row per limited subject and fixed time window, counted by one
statement (an upsert returning the new count), so any number of processes sharing the database count
together. On PostgreSQL the table is UNLOGGED: counts are ephemeral, and a commit then waits for no WAL
flush.
"""

from __future__ import annotations

from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncConnection

from chatloom.store.db import Database
from chatloom.store.raw_postgres import RawPostgres
from chatloom.store.tables import rate_counters

# Plain SQL, valid on PostgreSQL and SQLite (>= 3.35): the statement is the hot path of every limited request.
_ADD_SQL = (
    "INSERT INTO rate_counters (bucket, window_end, hits) VALUES (:bucket, :window_end, :amount) "
    "ON CONFLICT (bucket, window_end) DO UPDATE SET hits = rate_counters.hits + :amount RETURNING hits"
)
_READ_SQL = "SELECT hits FROM rate_counters WHERE bucket = :bucket AND window_end = :window_end"
_SWEEP_SQL = "DELETE FROM rate_counters WHERE window_end < :before"
_ADD = text(_ADD_SQL)


async def increment(conn: AsyncConnection, bucket: str, window_end: int) -> int:
    """Counts one hit for `bucket` in the window ending at `window_end` (epoch seconds); returns the
    window's hits so far, this one included."""
    return await add(conn, bucket, window_end, 1)


async def add(conn: AsyncConnection, bucket: str, window_end: int, amount: int) -> int:
    """Adds `amount` (tokens, micro-dollars; 0 reads) to the bucket's window; returns its new total."""
    result = await conn.execute(_ADD, {"bucket": bucket, "window_end": window_end, "amount": amount})
    return int(result.scalar_one())


async def sweep(conn: AsyncConnection, before: int) -> int:
    """Deletes the windows that ended before `before`; returns how many."""
    result = await conn.execute(delete(rate_counters).where(rate_counters.c.window_end < before))
    return int(result.rowcount)


class PostgresCounters:
    """The counters on PostgreSQL, straight on asyncpg (the database's `RawPostgres` pool).

    A count is the hot path of every rate-limited request (each web chat turn): through SQLAlchemy's
    pool and statement layer it costs about 250 µs of CPU, straight on asyncpg about 50 µs. The
    statements are the same as above, each its own transaction (autocommit)."""

    def __init__(self, raw: RawPostgres) -> None:
        self._raw = raw

    async def add(self, bucket: str, window_end: int, amount: int) -> int:
        values = {"bucket": bucket, "window_end": window_end, "amount": amount}
        found = await self._raw.fetchrow(_READ_SQL if amount == 0 else _ADD_SQL, values)
        return int(found.hits) if found is not None else 0

    async def increment(self, bucket: str, window_end: int) -> int:
        return await self.add(bucket, window_end, 1)

    async def sweep(self, before: int) -> None:
        await self._raw.execute(_SWEEP_SQL, {"before": before})


class DatabaseCounter:
    """Counts through SQLAlchemy: usage limits on SQLite, where budgets must survive restarts."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def increment(self, bucket: str, window_end: int) -> int:
        async with self.db.single_statement() as conn:
            return await increment(conn, bucket, window_end)

    async def add(self, bucket: str, window_end: int, amount: int) -> int:
        async with self.db.single_statement() as conn:
            return await add(conn, bucket, window_end, amount)

    async def sweep(self, before: int) -> None:
        async with self.db.single_statement() as conn:
            await sweep(conn, before)


def database_counter(db: Database) -> PostgresCounters | DatabaseCounter:
    """The database's counter: straight on asyncpg on PostgreSQL (every limited request counts), else
    through SQLAlchemy."""
    return PostgresCounters(db.raw) if db.raw is not None else DatabaseCounter(db)
