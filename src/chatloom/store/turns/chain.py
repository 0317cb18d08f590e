"""Rule: a chain's turn (`previousChatId`) is stored only while the chat it continues still exists, held
against deletion until the turn is written (on PostgreSQL FOR SHARE, on SQLite by the write lock); a chat
deleted meanwhile is not continued, and its messages the turn saw go to a new log with a copy of them.

Fast, PostgreSQL: one statement of CTEs in autocommit (hold the chat, advance the log at its tip, append
the rows, insert the chat); None, having written nothing, when the log moved on or the chat is gone.
Fast, SQLite: `tip.append_at_tip` with the chat's existence in its advancing statement. Portable: inside
the general transaction, `log_appends.append(..., continues_chat=...)` checks the chat in its statement.
"""

from __future__ import annotations

import functools
from typing import Any

from chatloom.store import chats, log_appends
from chatloom.store.raw_postgres import RawPostgres, pg_cast
from chatloom.store.tables import chats as chats_table
from chatloom.store.turns.record import TurnRecord

_APPEND = (
    log_appends.PG_ADVANCE_AND_APPEND
    + """, stored AS (
    INSERT INTO chats ({chat_columns}) SELECT {chat_values} FROM advanced RETURNING 1
)"""
)
"""The log advanced at its tip, its new rows, and the chat (inserted only if the log advanced)."""

_CHAIN = """WITH held AS (
    SELECT id FROM chats WHERE id = :continued_id AND org_id = :org_id FOR SHARE
), {append}
SELECT (SELECT count(*) FROM advanced) AS advanced, 1 AS session"""


def pg_append(condition: str) -> str:
    """`_APPEND` with the advance guarded by `condition` (a CTE the statement defines first)."""
    columns = [column.name for column in chats_table.columns]
    return _APPEND.format(
        condition=f" AND EXISTS (SELECT 1 FROM {condition})",
        chat_columns=", ".join(columns),
        chat_values=", ".join(pg_cast(chats_table, column, "c_") for column in columns),
    )


@functools.cache
def _statement() -> str:
    return _CHAIN.format(append=pg_append("held"))


def pg_values(record: TurnRecord, log_id: str, at: int) -> tuple[dict[str, Any], int]:
    """The parameters that append the record's messages at `at` and store its chat after them; their
    size."""
    bodies, size = log_appends.encode(record.added)
    place = chats.place_after(log_id, at, len(record.added), len(record.chat["output"]))
    row = chats.row_of(record.org_id, record.chat_id, record.chat, place, record.at)
    row["cost"] = float(row["cost"])
    values = {
        "org_id": record.org_id,
        "log_id": log_id,
        "at": at,
        "new_length": at + len(bodies),
        "bodies": bodies,
    }
    return values | {f"c_{name}": value for name, value in row.items()}, size


async def continue_on_postgres(raw: RawPostgres, record: TurnRecord) -> log_appends.Written | None:
    log_id, at = record.base
    if log_id is None or record.continues is None:
        return None
    values, size = pg_values(record, log_id, at)
    values["continued_id"] = record.continues
    counts = await raw.fetchrow(_statement(), values)
    assert counts is not None
    return log_appends.Written(log_id, at, record.added, size) if counts.advanced else None
