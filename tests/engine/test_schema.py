"""The migrations build exactly the schema `store/tables.py` declares, on both databases: every table,
column type, index and constraint (what Alembic's autogenerate would find to change is nothing)."""

from __future__ import annotations

import re
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from chatloom.store.tables import metadata
from tests.support.engine_world import run

RELAY_TABLES = frozenset(("stream_events", "stream_turns"))
"""Tables the relay writes with SQL of its own (`relay/postgres.py`), declared by migration 0008 only."""
FULL_TEXT_TABLES = re.compile(r"passages_fts(_(data|idx|docsize|config|content))?")
"""SQLite's FTS5 index of the passages and its shadow tables, created by migration 0016 only."""
FULL_TEXT_COLUMN, FULL_TEXT_INDEX = ("passages", "search_vector"), "ix_passages_search_vector"
"""PostgreSQL's full-text column of the passages and its GIN index, created by migration 0016 only."""


def _declared_elsewhere(change: Any) -> bool:
    """The relay's tables and each database's own full-text index, which `tables.py` does not declare."""
    kind, thing = change[0], change[1]
    if kind == "remove_table":
        return thing.name in RELAY_TABLES or FULL_TEXT_TABLES.fullmatch(thing.name) is not None
    if kind == "remove_index":
        return thing.table.name in RELAY_TABLES or thing.name == FULL_TEXT_INDEX
    if kind == "remove_column":
        return (change[2], change[3].name) == FULL_TEXT_COLUMN
    return False


def test_the_migrations_build_the_declared_schema(backend: str) -> None:
    async def play() -> None:
        engine = create_async_engine(backend)
        try:
            async with engine.connect() as conn:
                changes = await conn.run_sync(
                    lambda sync: compare_metadata(
                        MigrationContext.configure(sync, opts={"compare_type": True}), metadata
                    )
                )
        finally:
            await engine.dispose()
        assert [change for change in changes if not _declared_elsewhere(change)] == []

    run(backend, play)
