"""PostgreSQL: a turn stored in one statement, in autocommit (one round trip, no BEGIN/COMMIT), straight
on asyncpg (`RawPostgres`). A new conversation's first chat is one INSERT.

A chain's turn (`previousChatId`) and a session's turn both append their messages at the tip of the
conversation's log and insert their chat; a session's turn also records its new end and costs and
releases its lease. Each is one statement of data-modifying CTEs, so it is atomic by itself:

- the chain holds the continued chat against deletion (FOR SHARE) and advances the log only while the
  chat exists and the log still ends where the turn read it;
- the session locks its row only while the turn still holds the lease and nothing else changed it since
  the lease was taken (same body, same end of log): then nothing the turn did not see can be lost.

When a condition does not hold (a fork, a deleted chat, a PATCH or a lost lease during the turn), the
statement changes nothing and returns None: the caller then stores the turn in a transaction that
handles those cases (`engine.turn_writes`).
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql

from chatloom.store import chats, message_logs, sessions
from chatloom.store.documents import Document
from chatloom.store.raw_postgres import RawPostgres
from chatloom.store.tables import chats as chats_table
from chatloom.store.tables import sessions as sessions_table

_APPEND = (
    message_logs.PG_ADVANCE_AND_APPEND
    + """, stored AS (
    INSERT INTO chats ({chat_columns}) SELECT {chat_values} FROM advanced RETURNING 1
)"""
)

_CHAIN = """WITH held AS (
    SELECT id FROM chats WHERE id = :continued_id AND org_id = :org_id FOR SHARE
), {append}
SELECT (SELECT count(*) FROM advanced) AS advanced, 1 AS session"""

_SESSION = """WITH locked AS (
    SELECT id FROM sessions
    WHERE id = :session_id AND org_id = :org_id AND lease_owner = :owner AND body = :seen_body
      AND log_id = :log_id AND log_length = CAST(:at AS integer)
    FOR UPDATE
), {append}, ended AS (
    UPDATE sessions SET {session_values}
    WHERE id IN (SELECT id FROM locked) AND EXISTS (SELECT 1 FROM advanced)
    RETURNING 1
)
SELECT (SELECT count(*) FROM advanced) AS advanced, (SELECT count(*) FROM ended) AS session"""

_SESSION_COLUMNS = ("body", "cost", "updated_at", "expires_at", "log_length", "lease_owner", "lease_until")


def _cast(table: Table, column: str, prefix: str) -> str:
    kind = table.c[column].type.compile(dialect=postgresql.dialect())  # type: ignore[no-untyped-call]
    return f"CAST(:{prefix}{column} AS {kind})"


@functools.cache
def _statement(kind: str) -> str:
    columns = [column.name for column in chats_table.columns]
    append = _APPEND.format(
        condition=f" AND EXISTS (SELECT 1 FROM {'held' if kind == 'chain' else 'locked'})",
        chat_columns=", ".join(columns),
        chat_values=", ".join(_cast(chats_table, column, "c_") for column in columns),
    )
    if kind == "chain":
        return _CHAIN.format(append=append)
    values = ", ".join(f"{column} = {_cast(sessions_table, column, 's_')}" for column in _SESSION_COLUMNS)
    return _SESSION.format(append=append, session_values=values)


@functools.cache
def _insert_chat() -> str:
    columns = [column.name for column in chats_table.columns]
    values = ", ".join(_cast(chats_table, column, "c_") for column in columns)
    return f"INSERT INTO chats ({', '.join(columns)}) VALUES ({values})"


async def insert_first_chat(
    raw: RawPostgres, org_id: str, chat_id: str, document: Document, now: datetime
) -> None:
    """A chat that starts a conversation, its messages in its row (`chats.insert_inline`)."""
    row = chats.inline_row_of(org_id, chat_id, document, now)
    row["cost"] = float(row["cost"])
    await raw.execute(_insert_chat(), {f"c_{name}": value for name, value in row.items()})


def _append_values(
    org_id: str, chat_id: str, document: Document, log_id: str, at: int, added: list[Any], now: datetime
) -> tuple[dict[str, Any], int]:
    """The parameters that append `added` at `at` and store the chat after it; and their size."""
    bodies, size = message_logs.encode(added)
    place = chats.place_after(log_id, at, len(added), len(document["output"]))
    row = chats.row_of(org_id, chat_id, document, place, now)
    row["cost"] = float(row["cost"])
    values = {"org_id": org_id, "log_id": log_id, "at": at, "new_length": at + len(bodies), "bodies": bodies}
    return values | {f"c_{name}": value for name, value in row.items()}, size


async def continue_chain(
    raw: RawPostgres,
    org_id: str,
    chat_id: str,
    document: Document,
    base: tuple[str, int],
    added: list[Any],
    now: datetime,
    continued_id: str,
) -> message_logs.Written | None:
    """Appends `added` at `base` (the continued chat's end, the log's tip) and stores the chat; None
    (nothing changed) when the log moved on past `base` or the continued chat is gone."""
    log_id, at = base
    values, size = _append_values(org_id, chat_id, document, log_id, at, added, now)
    values["continued_id"] = continued_id
    counts = await raw.fetchrow(_statement("chain"), values)
    assert counts is not None
    return message_logs.Written(log_id, at, added, size) if counts.advanced else None


async def continue_session(
    raw: RawPostgres,
    org_id: str,
    chat_id: str,
    document: Document,
    session: Any,
    owner: str,
    added: list[Any],
    now: datetime,
    active: dict[str, Any] | None,
) -> message_logs.Written | None:
    """Appends `added` at the end of the session's log as its lease found it (`session`), stores the
    chat, and records the turn on the session, releasing the lease; None (nothing changed) when the log
    moved on, the lease was lost, or the session changed since the lease was taken."""
    log_id, at = sessions.log_of(session)
    if log_id is None:
        return None
    values, size = _append_values(org_id, chat_id, document, log_id, at, added, now)
    ended = sessions.turn_values(session, (log_id, at + len(added)), document["costs"], now, active)
    values.update({f"s_{column}": ended[column] for column in _SESSION_COLUMNS})
    values.update(session_id=session.id, owner=owner, seen_body=session.body)
    counts = await raw.fetchrow(_statement("session"), values)
    assert counts is not None
    if not counts.advanced:
        return None
    if not counts.session:  # the row was locked by the statement itself: this cannot happen
        raise RuntimeError(f"session {session.id}: messages appended but the session not updated")
    return message_logs.Written(log_id, at, added, size)
