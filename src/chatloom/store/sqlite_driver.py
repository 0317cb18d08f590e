"""SQLite statements with as few trips to the driver's thread as can be.

SQLAlchemy's aiosqlite adapter makes four trips to the driver's thread per SELECT (open a cursor,
execute, fetch, close) and three per INSERT/UPDATE: each trip is a queue hand-off, a thread wake-up and
an event-loop wake-up (about 70 µs of CPU on a busy server, several times that on an idle one, whose
threads sleep between trips). Here:

- A statement's cursor is opened, executed, fetched and closed in one function: one trip.
- Statements run at once on the calling thread (they take microseconds) as long as they need not wait:
  the connection's busy timeout is 0, so a statement that would wait for another process's lock fails at
  once instead, having done nothing, and is then sent to the driver's thread, where it waits as long as
  the busy timeout allows (10 s). Once a transaction holds the write lock (every transaction here
  begins IMMEDIATE) nothing can make its statements wait. A COMMIT goes to the driver's thread: it
  syncs the file, which must not stall the event loop (but see `single_statement` below).
- Inside a write transaction (`Database.write`), INSERTs without RETURNING, whose outcome nobody reads,
  wait for the next statement that answers something, or for the COMMIT, and go in its trip, in their
  order. A fresh chat's three INSERTs and its COMMIT are then one trip. An INSERT that fails (it never
  does but for a bug: ids are new) fails that later statement or the COMMIT, and the whole transaction
  rolls back as before.
- A transaction of one statement (`Database.single_statement`) commits with its statement; its
  connection does not sync the file (what it keeps, leases and counters, needs no power-loss
  durability), so that commit runs on the calling thread too.

Everything else (connections, transactions, isolation, errors) is SQLAlchemy's aiosqlite adapter
unchanged. The thread hand-off is aiosqlite's own queue (`Connection._execute`), which SQLAlchemy's
adapter already relies on; `one_hop_dbapi()` returns None when an aiosqlite release no longer has it, or
when SQLAlchemy or aiosqlite is outside the releases this module is tested with (`TESTED_RANGES`, with a
warning), and the engine then keeps SQLAlchemy's adapter as it is.
"""

from __future__ import annotations

import collections
import logging
import re
import sqlite3
from collections.abc import Mapping
from importlib.metadata import version
from typing import Any, Final, cast

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

log = logging.getLogger("chatloom.store.sqlite")

TESTED_RANGES: Final = {"SQLAlchemy": ("2.1", "2.2"), "aiosqlite": ("0.20", "0.23")}
"""The releases whose internals this module is tested with: at least the first, below the second
(pyproject.toml declares the same ranges)."""

Outcome = tuple[Any, list[Any] | None, int, int | None]
"""A statement's description, rows (None when it returns none), rowcount and lastrowid."""
Statement = tuple[str, Any, bool]
"""An operation, its parameters, and whether they are many sets (executemany)."""


def _deferrable(operation: str) -> bool:
    head = operation.lstrip()[:6].upper()
    return head == "INSERT" and "RETURNING" not in operation.upper()


def _run_waiting(
    connection: sqlite3.Connection,
    busy_timeout_ms: int,
    deferred: list[Statement],
    last: Statement | None,
    commit: bool,
) -> Outcome:
    """On the driver's thread: `_run_all`, waiting up to the busy timeout for other processes' locks."""
    connection.execute(f"PRAGMA busy_timeout={busy_timeout_ms:d}")
    try:
        return _run_all(connection, deferred, last, commit)
    finally:
        connection.execute("PRAGMA busy_timeout=0")


def _run_all(
    connection: sqlite3.Connection, deferred: list[Statement], last: Statement | None, commit: bool
) -> Outcome:
    """The deferred statements, then `last` (whose outcome is returned), then the COMMIT if asked."""
    for operation, parameters, many in deferred:
        _run(connection, operation, parameters, many)
    outcome: Outcome = (None, None, -1, None) if last is None else _run(connection, *last)
    if commit:
        connection.commit()
    return outcome


def _run(connection: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> Outcome:
    """One statement, from opening its cursor to closing it."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else None
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor whose statement runs in one trip to the driver's thread."""

    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: Any) -> None:  # no driver cursor: nothing to open here
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self._arraysize = 1

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    async def _async_soft_close(self) -> None:
        return None  # nothing stays open on the driver's side

    def close(self) -> None:
        self._rows.clear()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        try:
            return await_(self._statement(operation, parameters, many=False))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        try:
            return await_(self._statement(operation, seq_of_parameters, many=True))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    async def _statement(self, operation: Any, parameters: Any, many: bool) -> None:
        connection = cast(OneHopConnection, self._adapt_connection)
        self._description, self._rowcount, self._lastrowid = None, -1, None
        deferred = connection.deferred
        if deferred is not None and _deferrable(operation):
            deferred.append((operation, parameters, many))
            return
        driver = self._connection
        statement = (operation, parameters, many)
        commit, connection.commit_with_next = connection.commit_with_next, False
        pending = deferred or []
        if deferred:
            connection.deferred = []
        inline = not commit or connection.commit_inline
        outcome = _run_unless_busy(driver._conn, pending, statement, commit) if inline else None
        if outcome is None:
            async with connection._execute_mutex:
                outcome = await driver._execute(
                    _run_waiting, driver._conn, connection.busy_timeout_ms, pending, statement, commit
                )
        self._description, rows, self._rowcount, self._lastrowid = outcome
        if rows is not None:
            self._rows = collections.deque(rows)


def _run_unless_busy(
    connection: sqlite3.Connection, deferred: list[Statement], last: Statement, commit: bool = False
) -> Outcome | None:
    """`_run_all` on this thread; None when it would have had to wait for a lock (nothing was done)."""
    began = connection.in_transaction
    try:
        return _run_all(connection, deferred, last, commit)
    except sqlite3.OperationalError as error:
        if began or connection.in_transaction or error.sqlite_errorcode != sqlite3.SQLITE_BUSY:
            raise
        return None


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("busy_timeout_ms", "commit_inline", "commit_with_next", "deferred")
    _cursor_cls = OneHopCursor

    def __init__(self, dbapi: Any, connection: Any, busy_timeout_ms: int) -> None:
        super().__init__(dbapi, connection)
        self.busy_timeout_ms = busy_timeout_ms
        self.commit_inline = False
        """Set on a connection whose commits do not sync the file (`synchronous=NORMAL`): they take
        microseconds, so they run on the calling thread too."""
        self.deferred: list[Statement] | None = None
        """Statements held for the next trip; None when statements are not being deferred."""
        self.commit_with_next = False

    def defer_inserts(self) -> None:
        """Until the transaction ends, INSERTs without RETURNING wait for the next trip."""
        self.deferred = []

    def commit_after_next_statement(self) -> None:
        """The transaction is its next statement: the COMMIT goes in that statement's trip."""
        self.commit_with_next = True

    def commit(self) -> None:
        deferred, self.deferred = self.deferred, None
        self.commit_with_next = False
        driver = self._connection
        if not deferred:
            if driver._connection is not None and not driver._conn.in_transaction:
                return  # committed with its statement, or nothing was written
            super().commit()
            return
        try:
            await_(driver._execute(_run_waiting, driver._conn, self.busy_timeout_ms, deferred, None, True))
        except Exception as error:
            self._handle_exception(error)

    def rollback(self) -> None:
        self.deferred = None
        self.commit_with_next = False
        super().rollback()

    def discard_deferred(self) -> None:
        """Forgets statements never sent (the transaction ended without a COMMIT)."""
        self.deferred = None
        self.commit_with_next = False


class OneHopDbapi(AsyncAdapt_aiosqlite_dbapi):
    def __init__(self, busy_timeout_ms: int) -> None:
        super().__init__(aiosqlite, sqlite3)
        self.busy_timeout_ms = busy_timeout_ms
        self.commit_inline = False
        """Set on a connection whose commits do not sync the file (`synchronous=NORMAL`): they take
        microseconds, so they run on the calling thread too."""

    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        adapted = super().connect(*arg, **kw)
        return OneHopConnection(self, adapted._connection, self.busy_timeout_ms)


def one_hop_dbapi(busy_timeout_ms: int) -> OneHopDbapi | None:
    """The DBAPI module to give the engine (`module=`), or None to keep SQLAlchemy's own adapter. Its
    connections must be set to `PRAGMA busy_timeout=0`; they wait up to `busy_timeout_ms` on the driver's
    thread."""
    untested = untested_release({name: version(name) for name in TESTED_RANGES})
    if untested is not None:
        log.warning("%s; SQLite statements go through SQLAlchemy's own aiosqlite adapter", untested)
        return None
    if not callable(getattr(aiosqlite.Connection, "_execute", None)):
        return None
    return OneHopDbapi(busy_timeout_ms)


def untested_release(versions: Mapping[str, str]) -> str | None:
    """Says which of the installed `versions` (package name → version) is outside `TESTED_RANGES`;
    None when all are inside."""
    for name, (lowest, beyond) in TESTED_RANGES.items():
        installed = versions[name]
        if not _release(lowest) <= _release(installed) < _release(beyond):
            return f"{name} {installed} is outside the tested range >={lowest},<{beyond}"
    return None


def _release(text: str) -> tuple[int, ...]:
    """A version's release numbers: "2.1.9" → (2, 1, 9), "0.23.0rc1" → (0, 23, 0)."""
    found = re.match(r"\d+(?:\.\d+)*", text)
    return tuple(int(part) for part in found.group().split(".")) if found else ()
