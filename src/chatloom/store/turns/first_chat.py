"""Rule: a new conversation's first chat is one INSERT, its messages kept in its own row until another chat
continues it (which then starts a log with a copy of them), so the common single-turn chat costs one
statement. Fast: straight on asyncpg, or on SQLite's one-trip driver (held back until the COMMIT, in its
trip); portable: SQLAlchemy."""

from __future__ import annotations

import functools

from chatloom.store import chats
from chatloom.store.db import Database
from chatloom.store.raw_postgres import RawPostgres, pg_cast
from chatloom.store.raw_sqlite import execute
from chatloom.store.sqlite_driver import OneHopConnection
from chatloom.store.tables import chats as chats_table
from chatloom.store.turns.record import TurnRecord


@functools.cache
def _pg_insert() -> str:
    columns = [column.name for column in chats_table.columns]
    values = ", ".join(pg_cast(chats_table, column, "c_") for column in columns)
    return f"INSERT INTO chats ({', '.join(columns)}) VALUES ({values})"


@functools.cache
def sqlite_insert() -> str:
    columns = [column.name for column in chats_table.columns]
    return f"INSERT INTO chats ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"


async def insert_on_postgres(raw: RawPostgres, record: TurnRecord) -> None:
    row = chats.inline_row_of(record.org_id, record.chat_id, record.chat, record.at)
    row["cost"] = float(row["cost"])
    await raw.execute(_pg_insert(), {f"c_{name}": value for name, value in row.items()})


async def insert_on_sqlite(driver: OneHopConnection, record: TurnRecord) -> None:
    await execute(
        driver, sqlite_insert(), chats.inline_row_of(record.org_id, record.chat_id, record.chat, record.at)
    )


async def insert(db: Database, record: TurnRecord, fast: bool) -> None:
    """Stores a new conversation's first chat."""
    if fast and db.raw is not None:
        await insert_on_postgres(db.raw, record)
        return
    async with db.one_statement() as conn:
        driver = db.sqlite_driver(conn) if fast else None
        if driver is not None:
            await insert_on_sqlite(driver, record)
        else:
            await chats.insert_inline(conn, record.org_id, record.chat_id, record.chat, record.at)
