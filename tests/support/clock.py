"""Moves a stored session's expiry into the past, standing in for the passage of time."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from chatloom.store.db import Database, create_engine
from chatloom.store.tables import sessions


def expire_session(database_url: str, session_id: str) -> None:
    async def run() -> None:
        db = Database(create_engine(database_url, pool_size=1))
        try:
            async with db.write() as conn:
                past = datetime.now(UTC) - timedelta(seconds=1)
                await conn.execute(
                    update(sessions).where(sessions.c.id == session_id).values(expires_at=past)
                )
        finally:
            await db.dispose()

    asyncio.run(run())


YEAR_SECONDS = 366 * 86_400


def end_usage_windows(database_url: str, subject_id: str) -> None:
    """Ends the current usage-limit windows (minute, day, month) of a key or org, as time passing would."""

    async def run() -> None:
        from chatloom.store.tables import rate_counters

        db = Database(create_engine(database_url, pool_size=1))
        try:
            async with db.write() as conn:
                await conn.execute(
                    update(rate_counters)
                    .where(rate_counters.c.bucket.like(f"%:{subject_id}"))
                    # Every window of the subject moves a year back: all end in the past, and windows of one
                    # bucket stay distinct (setting one end time for all collided on the primary key).
                    .values(window_end=rate_counters.c.window_end - YEAR_SECONDS)
                )
        finally:
            await db.dispose()

    asyncio.run(run())
