"""The migrations build exactly the schema `store/tables.py` declares, on both databases: every table,
column type, index and constraint (what Alembic's autogenerate would find to change is nothing)."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from chatloom.store.tables import metadata
from tests.support.engine_world import run

RELAY_TABLES = frozenset(("stream_events", "stream_turns"))
"""Tables the relay writes with SQL of its own (`relay/postgres.py`), declared by migration 0008 only."""


def _relay_only(change: Any) -> bool:
    kind, thing = change[0], change[1]
    if kind == "remove_table":
        return thing.name in RELAY_TABLES
    if kind == "remove_index":
        return thing.table.name in RELAY_TABLES
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
        assert [change for change in changes if not _relay_only(change)] == []

    run(backend, play)
