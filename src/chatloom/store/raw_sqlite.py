"""SQLite: a turn's hot statements on the driver's connections directly, past SQLAlchemy's statement layer.

On the reference machine a SELECT by primary key costs about 85 µs of CPU through SQLAlchemy on an open
connection (compiled-statement cache, execution context, result processing) and about 190 µs more to
check a connection out of the pool; on sqlite3 itself it costs about 10 µs. The statements every turn
makes (a chain's read of the chat it continues; a session's lease; a turn's writes) are written here in
SQLite's own SQL with `:name` parameters, and values are stored exactly as SQLAlchemy stores them
(datetimes as `YYYY-MM-DD HH:MM:SS.ffffff` text in UTC), so both paths read and write the same rows.

Writes run on the connection of the caller's write transaction (`Database.write`), through the one-trip
driver (`sqlite_driver`): same transaction, same deferral of INSERTs, same COMMIT. Reads run on one
kept-open connection of their own, outside any transaction, on the event loop's thread (a read that
would wait for a lock goes to a thread, as in the driver).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from chatloom.store.sqlite_driver import OneHopConnection, OneHopCursor

log = logging.getLogger("chatloom.store.raw")
"""Each statement's SQL (never its parameters) at DEBUG."""
TIME_COLUMNS = frozenset(("created_at", "updated_at", "expires_at", "lease_until"))
"""The columns SQLAlchemy stores as `DATETIME` text (UTC)."""
_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def bind(values: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters as SQLAlchemy binds them on SQLite: aware datetimes as UTC text."""
    return {
        name: value.astimezone(UTC).strftime(_FORMAT) if isinstance(value, datetime) else value
        for name, value in values.items()
    }


def _row(description: Any, row: Any) -> SimpleNamespace:
    """A row with its columns as attributes (like a SQLAlchemy row), datetimes as aware UTC."""
    found = SimpleNamespace()
    for column, value in zip(description, row, strict=True):
        name = column[0]
        if name in TIME_COLUMNS and isinstance(value, str):
            value = datetime.fromisoformat(value).replace(tzinfo=UTC)
        setattr(found, name, value)
    return found


async def execute(
    driver: OneHopConnection, sql: str, values: Mapping[str, Any] | list[dict[str, Any]]
) -> tuple[SimpleNamespace | None, int]:
    """One statement in the write transaction open on `driver`: its first row, if it returns rows, and
    its rowcount. A list of value sets runs the statement for each (executemany)."""
    if log.isEnabledFor(logging.DEBUG):
        log.debug("%s", sql)
    cursor = OneHopCursor(driver)
    if isinstance(values, list):
        await cursor._statement(sql, [bind(each) for each in values], many=True)
    else:
        await cursor._statement(sql, bind(values), many=False)
    row = cursor._rows[0] if cursor._rows else None
    first = _row(cursor.description, row) if row is not None else None
    cursor.close()
    return first, cursor.rowcount


class SqliteReader:
    """One kept-open connection for single-row reads outside transactions (each sees what is committed).
    Reads run on the event loop's thread; one that would wait for another process's lock (its busy
    timeout is 0) runs again on a thread, waiting up to `busy_timeout_ms`."""

    def __init__(self, path: Path, busy_timeout_ms: int) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self._connection: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            connection.execute("PRAGMA busy_timeout=0")
            connection.execute("PRAGMA foreign_keys=ON")
            self._connection = connection
        return self._connection

    async def fetchrow(self, sql: str, values: Mapping[str, Any]) -> SimpleNamespace | None:
        parameters = bind(values)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s", sql)
        async with self._lock:  # only ever held across an await by a read that waits for a lock
            connection = self._connect()
            try:
                return self._fetch(connection, sql, parameters)
            except sqlite3.OperationalError as error:
                if error.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                    raise
            return await asyncio.to_thread(self._fetch_waiting, connection, sql, parameters)

    @staticmethod
    def _fetch(
        connection: sqlite3.Connection, sql: str, parameters: dict[str, Any]
    ) -> SimpleNamespace | None:
        cursor = connection.execute(sql, parameters)
        try:
            row = cursor.fetchone()
            return _row(cursor.description, row) if row is not None else None
        finally:
            cursor.close()

    def _fetch_waiting(
        self, connection: sqlite3.Connection, sql: str, parameters: dict[str, Any]
    ) -> SimpleNamespace | None:
        connection.execute(f"PRAGMA busy_timeout={self.busy_timeout_ms:d}")
        try:
            return self._fetch(connection, sql, parameters)
        finally:
            connection.execute("PRAGMA busy_timeout=0")

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
