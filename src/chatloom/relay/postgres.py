"""The PostgreSQL relay: frames in `stream_events`, each turn's state in `stream_turns`, written with one
statement per batch that also sends `NOTIFY chatloom_streams`; every process LISTENs on one connection.
It talks to asyncpg directly (a prepared statement per write): SQLAlchemy's per-statement overhead would
be paid several times per streamed turn."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from chatloom.relay.memory import StreamInfo
from chatloom.relay.shared import SharedRelay, snapshot_of

log = logging.getLogger("chatloom.relay")

CHANNEL = "chatloom_streams"

STORE = """
WITH turn AS (
    INSERT INTO stream_turns
        (id, org_id, kind, status, background, snapshot, last_seq, expires_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, now() + make_interval(secs => $8), now())
    ON CONFLICT (id) DO UPDATE SET
        status = EXCLUDED.status,
        snapshot = COALESCE(EXCLUDED.snapshot, stream_turns.snapshot),
        last_seq = EXCLUDED.last_seq,
        expires_at = EXCLUDED.expires_at,
        updated_at = EXCLUDED.updated_at
), frames AS (
    INSERT INTO stream_events (turn_id, seq, frame)
    SELECT $1, $9 + ordinality::int - 1, frame FROM unnest($10::bytea[]) WITH ORDINALITY AS t(frame)
)
SELECT pg_notify($11, 'e ' || $1)
"""
READ_INFO = """
SELECT kind, status, background, snapshot, last_seq FROM stream_turns
WHERE id = $1 AND org_id = $2 AND expires_at > now()
"""
READ_FRAMES = "SELECT frame FROM stream_events WHERE turn_id = $1 AND seq > $2 ORDER BY seq"
PURGE = """
WITH gone AS (DELETE FROM stream_turns WHERE id = $1 AND org_id = $2 RETURNING id)
DELETE FROM stream_events WHERE turn_id IN (SELECT id FROM gone)
"""
EXPIRE = """
WITH gone AS (DELETE FROM stream_turns WHERE expires_at < now() RETURNING id)
DELETE FROM stream_events WHERE turn_id IN (SELECT id FROM gone)
"""


def asyncpg_dsn(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


class PostgresRelay(SharedRelay):
    def __init__(self, database_url: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dsn = asyncpg_dsn(database_url)
        self._pool: asyncpg.Pool | None = None
        self._listener: asyncpg.Connection | None = None
        self._expiry: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=4)
        self._listener = await asyncpg.connect(self.dsn)
        await self._listener.add_listener(CHANNEL, self._on_notification)
        self._expiry = asyncio.get_running_loop().create_task(self._expire_periodically())

    def _on_notification(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self.notified(payload)

    async def _expire_periodically(self) -> None:
        while True:
            await asyncio.sleep(min(60.0, max(self.retention_seconds, 1.0)))
            try:
                await self.pool.execute(EXPIRE)
            except Exception:
                log.exception("could not remove expired streams")

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("the relay was not started")
        return self._pool

    async def aclose(self) -> None:
        await super().aclose()
        if self._expiry is not None:
            self._expiry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._expiry
        if self._listener is not None:
            await self._listener.close()
        if self._pool is not None:
            await self._pool.close()

    async def _store(self, info: StreamInfo, first_seq: int, frames: list[bytes], expires_in: float) -> None:
        snapshot = info.snapshot.decode() if info.snapshot is not None else None
        await self.pool.fetchval(
            STORE,
            info.turn_id,
            info.org_id,
            info.kind,
            info.status,
            info.background,
            snapshot,
            info.last_seq,
            expires_in,
            first_seq,
            frames,
            CHANNEL,
        )

    async def _read_info(self, org_id: str, turn_id: str) -> StreamInfo | None:
        row = await self.pool.fetchrow(READ_INFO, turn_id, org_id)
        if row is None:
            return None
        return StreamInfo(
            turn_id,
            org_id,
            row["kind"],
            row["status"],
            row["background"],
            snapshot_of(row["snapshot"]),
            row["last_seq"],
        )

    async def _read_frames(self, turn_id: str, after: int) -> list[bytes]:
        rows = await self.pool.fetch(READ_FRAMES, turn_id, after)
        return [row[0] for row in rows]

    async def _send(self, message: str) -> None:
        await self.pool.execute("SELECT pg_notify($1, $2)", CHANNEL, message)

    async def _purge(self, org_id: str, turn_id: str) -> None:
        await self.pool.execute(PURGE, turn_id, org_id)
