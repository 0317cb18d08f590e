"""PostgreSQL: the few statements on every turn's path, straight on asyncpg over a small pool of their own.

Through SQLAlchemy's pool and statement layer one statement costs about 400-500 µs of CPU on the
reference machine (checkout, execution context, result rows), straight on asyncpg about 130 µs. Only
statements that are atomic by themselves (autocommit) go here: a session's lease, the chat a chain
continues, a new conversation's chat, and a continuing turn's one-statement write. Their SQL is written
with `:name` parameters like SQLAlchemy's `text()` (and CASTs where a type is needed) and turned into
asyncpg's `$n` once.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("chatloom.store.raw")
"""Each statement's SQL (never its parameters) at DEBUG."""
_PARAMETER = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")


@dataclass(frozen=True, slots=True)
class RawStatement:
    sql: str
    names: tuple[str, ...]


@functools.cache
def raw_statement(sql: str) -> RawStatement:
    """`sql` with `:name` parameters, as asyncpg's `$n` and the names in their order."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return RawStatement(_PARAMETER.sub(number, sql), tuple(names))


async def _keep_as_is(_connection: Any) -> None:
    """A connection goes back to the pool as it is: autocommit statements leave no session state, and
    asyncpg's default reset would cost a round trip (`RESET ALL`, ...) per statement."""


class RawPostgres:
    """A small asyncpg pool (opened at first use) for the hot autocommit statements."""

    def __init__(self, engine: AsyncEngine, max_connections: int) -> None:
        _args, self._connect = engine.dialect.create_connect_args(engine.url)
        self.max_connections = max(1, max_connections)
        self._pool: Any = None
        self._opening = asyncio.Lock()

    async def pool(self) -> Any:
        """The asyncpg pool (opened at first use)."""
        if self._pool is None:
            async with self._opening:
                if self._pool is None:
                    import asyncpg

                    self._pool = await asyncpg.create_pool(
                        min_size=1, max_size=self.max_connections, reset=_keep_as_is, **self._connect
                    )
        return self._pool

    async def fetchrow(self, sql: str, values: Mapping[str, Any]) -> SimpleNamespace | None:
        """The statement's first row (its columns as attributes, like a SQLAlchemy row), or None."""
        statement = raw_statement(sql)
        pool = await self.pool()
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s", statement.sql)
        record = await pool.fetchrow(statement.sql, *(values[name] for name in statement.names))
        return SimpleNamespace(**dict(record.items())) if record is not None else None

    async def execute(self, sql: str, values: Mapping[str, Any]) -> None:
        statement = raw_statement(sql)
        pool = await self.pool()
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s", statement.sql)
        await pool.execute(statement.sql, *(values[name] for name in statement.names))

    async def aclose(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()


def pg_cast(table: Table, column: str, prefix: str) -> str:
    """`CAST(:<prefix><column> AS <its type>)`: asyncpg binds text parameters, so typed columns are cast."""
    kind = table.c[column].type.compile(dialect=postgresql.dialect())  # type: ignore[no-untyped-call]
    return f"CAST(:{prefix}{column} AS {kind})"
