"""The async engine for SQLite (WAL) or PostgreSQL, and Alembic migrations run from the package.

Connections are short-lived: repositories take one per operation and release it at once, so none
is held while an LLM call is in flight.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, QueuePool

from chatloom.store.message_cache import MessageCache
from chatloom.store.raw_postgres import RawPostgres
from chatloom.store.raw_sqlite import SqliteReader
from chatloom.store.sqlite_driver import OneHopConnection, OneHopDbapi, one_hop_dbapi

READ_ONLY = "chatloom_read_only"
STARTS_WITH_WRITE = "chatloom_starts_with_write"
READS_FIRST, WRITES_FIRST, EPHEMERAL = "reads-first", "writes-first", "ephemeral"
"""The kinds of SQLite write transactions, each on its own kept-open connection."""
BUSY_TIMEOUT_MS = 10_000
"""How long a statement waits for another process's lock on the SQLite file."""
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def _sqlite_file(url: str) -> Path | None:
    prefix = "sqlite+aiosqlite:///"
    if not url.startswith(prefix) or ":memory:" in url:
        return None
    return Path(url[len(prefix) :].split("?", 1)[0])


def default_files_dir(url: str) -> Path:
    """Where uploaded files go by default: a `files` directory beside the SQLite database file, else (an
    in-memory database, PostgreSQL) ./data/files."""
    database = _sqlite_file(url)
    return database.parent / "files" if database is not None else Path("data") / "files"


def create_engine(url: str, pool_size: int = 10, sqlite_synchronous: str = "FULL") -> AsyncEngine:
    """An engine tuned per backend: WAL + busy timeout on SQLite, a bounded pool on PostgreSQL.

    `sqlite_synchronous` FULL makes every committed chat survive a power loss; NORMAL is faster and
    survives process crashes only.
    """
    if url.startswith("sqlite"):
        synchronous = sqlite_synchronous.upper()
        if synchronous not in ("FULL", "NORMAL", "EXTRA"):
            raise ValueError("sqlite_synchronous must be FULL, NORMAL or EXTRA")
        path = _sqlite_file(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        # Transactions always end in COMMIT or ROLLBACK and reads run outside transactions, so the
        # pool's rollback on check-in would only cost a thread hop per use.
        # One trip to the driver's thread per statement instead of three or four (sqlite_driver.py).
        dbapi = one_hop_dbapi(BUSY_TIMEOUT_MS)
        engine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_reset_on_return=None,
            **({"module": dbapi} if dbapi is not None else {}),
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
            # The driver begins a write transaction (BEGIN IMMEDIATE) by itself just before the first
            # INSERT/UPDATE/DELETE, in the same call; SELECTs outside a transaction begin nothing.
            dbapi_connection.isolation_level = "IMMEDIATE"
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            # With the one-trip driver a statement never waits on the event loop's thread: it fails at
            # once and goes to the driver's thread, which waits up to BUSY_TIMEOUT_MS (sqlite_driver.py).
            cursor.execute(f"PRAGMA busy_timeout={0 if dbapi is not None else BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _begin(conn: Any) -> None:
            # A transaction that reads before it writes takes the write lock up front, so no other
            # writer can change what it read; one that starts by writing lets the driver begin it.
            options = conn.get_execution_options()
            if not options.get(READ_ONLY, False) and not options.get(STARTS_WITH_WRITE, False):
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        dialect = engine.sync_engine.dialect
        rollback = dialect.do_rollback

        def _rollback_if_open(dbapi_connection: Any) -> None:
            # Reads leave no transaction open; rolling back nothing would still cost a thread hop.
            if isinstance(dbapi_connection, OneHopConnection):
                dbapi_connection.discard_deferred()
            if dbapi_connection.driver_connection.in_transaction:
                rollback(dbapi_connection)

        dialect.do_rollback = _rollback_if_open  # type: ignore[method-assign]
        return engine
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=False,
        pool_recycle=1800,
        pool_reset_on_return=None,
    )


class Database:
    """`read()` runs queries without a transaction (each statement sees committed data; no BEGIN/COMMIT
    round trips); `write()` is one atomic transaction. On SQLite, writers of this process queue on an
    asyncio lock instead of sleeping in SQLite's busy handler, which keeps tail latency low.

    `messages` is this process's cache of decoded conversation messages (see `MessageCache`)."""

    def __init__(self, engine: AsyncEngine, message_cache_bytes: int = 64 * 1024 * 1024) -> None:
        self.engine = engine
        self.messages = MessageCache(message_cache_bytes)
        self.dialect = engine.dialect.name
        self.shared = self.dialect == "postgresql"
        """Whether several server processes can share this database (PostgreSQL; SQLite serves one)."""
        self.raw: RawPostgres | None = None
        """PostgreSQL: the hot autocommit statements' own asyncpg pool (see `RawPostgres`)."""
        if self.dialect == "postgresql":
            size = engine.pool.size() if isinstance(engine.pool, QueuePool) else 10
            self.raw = RawPostgres(engine, size)
        self._sqlite_writer = asyncio.Lock() if self.dialect == "sqlite" else None
        self.sqlite_reader: SqliteReader | None = None
        """SQLite with the one-trip driver: the hot single-row reads' own connection (`raw_sqlite`)."""
        path = _sqlite_file(engine.url.render_as_string(hide_password=False))
        if self.dialect == "sqlite" and path is not None and isinstance(engine.dialect.dbapi, OneHopDbapi):
            self.sqlite_reader = SqliteReader(path, BUSY_TIMEOUT_MS)
        self._writers: dict[str, tuple[AsyncConnection, OneHopConnection | None]] = {}
        """SQLite: the connections writers take turns on (they queue on `_sqlite_writer` anyway), kept
        open so a write costs no pool checkout: one for transactions that read first, one for those that
        start with a write, one for `single_statement`."""

    async def _writer(self, kind: str) -> tuple[AsyncConnection, OneHopConnection | None]:
        found = self._writers.get(kind)
        if found is not None:
            conn, driver = found
            stale = conn.closed or conn.invalidated or conn.in_transaction()
            if driver is not None and driver.driver_connection is not None:
                stale = stale or bool(getattr(driver.driver_connection._connection, "in_transaction", False))
            if not stale:
                return found
            self._writers.pop(kind, None)
            await conn.invalidate()  # whatever it was in the middle of is rolled back with it
            await conn.close()
        conn = await self.engine.connect()
        if kind != READS_FIRST:
            conn = await conn.execution_options(**{STARTS_WITH_WRITE: True})
        raw = (await conn.get_raw_connection()).dbapi_connection
        driver = raw if isinstance(raw, OneHopConnection) else None
        if kind == EPHEMERAL and driver is not None:
            # What single statements keep (leases, counters) needs no sync to the disk: their commits
            # survive a crash of this process but maybe not of the machine, take microseconds and run
            # on the event loop's thread. Checkpoints are left to the other connections' commits.
            await conn.exec_driver_sql("PRAGMA synchronous=NORMAL")
            await conn.exec_driver_sql("PRAGMA wal_autocheckpoint=0")
            await conn.commit()
            driver.commit_inline = True
        found = (conn, driver)
        self._writers[kind] = found
        return found

    def sqlite_driver(self, conn: AsyncConnection) -> OneHopConnection | None:
        """SQLite: the one-trip driver connection under a write transaction's `conn` (None without it)."""
        for kept, driver in self._writers.values():
            if kept is conn:
                return driver
        return None

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            if self._sqlite_writer is None:
                yield await conn.execution_options(isolation_level="AUTOCOMMIT")
            else:
                yield await conn.execution_options(**{READ_ONLY: True})

    @asynccontextmanager
    async def write(self, starts_with_write: bool = False) -> AsyncIterator[AsyncConnection]:
        """One transaction. `starts_with_write` promises that its first statement writes (on SQLite the
        driver then begins it in that same call); leave it False when the transaction reads first."""
        if self._sqlite_writer is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._sqlite_transaction(WRITES_FIRST if starts_with_write else READS_FIRST) as conn:
            yield conn

    @asynccontextmanager
    async def one_statement(self) -> AsyncIterator[AsyncConnection]:
        """For one writing statement that is atomic by itself and durable like any transaction: on
        PostgreSQL it runs in autocommit (no BEGIN/COMMIT round trips); on SQLite it is a transaction
        that starts with it (the driver sends the statement and its COMMIT together)."""
        if self._sqlite_writer is None:
            async with self.engine.connect() as conn:
                yield await conn.execution_options(isolation_level="AUTOCOMMIT")
            return
        async with self._sqlite_transaction(WRITES_FIRST) as conn:
            yield conn

    @asynccontextmanager
    async def _sqlite_transaction(self, kind: str) -> AsyncIterator[AsyncConnection]:
        assert self._sqlite_writer is not None
        async with self._sqlite_writer:
            conn, driver = await self._writer(kind)
            async with conn.begin():
                if driver is not None:
                    driver.defer_inserts()  # sent with the next statement that answers, or the COMMIT
                    if kind == EPHEMERAL:
                        driver.commit_after_next_statement()  # the statement and its COMMIT at once
                yield conn

    @asynccontextmanager
    async def single_statement(self) -> AsyncIterator[AsyncConnection]:
        """For one writing statement that is atomic by itself and keeps nothing that must survive a power
        loss (session leases, rate counters): on PostgreSQL it runs in autocommit (no BEGIN/COMMIT round
        trips); on SQLite it commits with the statement, without waiting for the disk."""
        if self._sqlite_writer is None:
            async with self.engine.connect() as conn:
                yield await conn.execution_options(isolation_level="AUTOCOMMIT")
            return
        async with self._sqlite_transaction(EPHEMERAL) as conn:
            yield conn

    async def dispose(self) -> None:
        for conn, _ in self._writers.values():
            await conn.close()
        self._writers.clear()
        if self.raw is not None:
            await self.raw.aclose()
        if self.sqlite_reader is not None:
            self.sqlite_reader.close()
        await self.engine.dispose()


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _only_upgrades(record: logging.LogRecord) -> bool:
    return record.levelno > logging.INFO or str(record.msg).startswith("Running upgrade")


def migrate(url: str) -> None:
    """Apply every pending migration (blocking; call before serving)."""
    from alembic import command

    # Quiet unless it migrates: of alembic's INFO lines only "Running upgrade a -> b" gets through.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    steps = logging.getLogger("alembic.runtime.migration")
    steps.setLevel(logging.INFO)
    if _only_upgrades not in steps.filters:
        steps.addFilter(_only_upgrades)
    path = _sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), "head")
