"""Rate-limit counters: one row per limited subject and fixed time window, counted by one statement.

`increment` is an upsert that returns the new count, so any number of processes sharing the database
count together (PostgreSQL: atomic ON CONFLICT; SQLite: the database write lock).
"""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from chatloom.store.tables import rate_counters


async def increment(conn: AsyncConnection, bucket: str, window_end: int) -> int:
    """Counts one hit for `bucket` in the window ending at `window_end` (epoch seconds); returns the
    window's hits so far, this one included."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(rate_counters).values(bucket=bucket, window_end=window_end, hits=1)
    upsert = statement.on_conflict_do_update(
        index_elements=[rate_counters.c.bucket, rate_counters.c.window_end],
        set_={"hits": rate_counters.c.hits + 1},
    ).returning(rate_counters.c.hits)
    return int((await conn.execute(upsert)).scalar_one())


async def sweep(conn: AsyncConnection, before: int) -> int:
    """Deletes the windows that ended before `before`; returns how many."""
    result = await conn.execute(delete(rate_counters).where(rate_counters.c.window_end < before))
    return int(result.rowcount)
