"""Conversations (OpenAI's Conversations API): a row per conversation that points into a message log, as
a session does. Its messages are `log[0:log_length)`, less the items deleted from it (`hidden`), so a
turn on a conversation appends its messages once, where its chat reads them too.

Every append goes after the conversation's current end inside a transaction whose first statement locks
the conversation's row (`lock`: an UPDATE ... RETURNING, on PostgreSQL a row lock, on SQLite the
database's write lock), so concurrent turns and item additions queue there and none loses another's.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Select, Update, bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from chatloom.store import log_appends, message_logs
from chatloom.store.message_cache import MessageCache
from chatloom.store.message_logs import Message
from chatloom.store.tables import conversations

LogEnd = tuple[str | None, int]


@dataclass(frozen=True, slots=True)
class ConversationRow:
    """A conversation as stored: where its messages end, which of its items are deleted, its metadata."""

    id: str
    org_id: str
    log: LogEnd
    hidden: tuple[str, ...]
    metadata: dict[str, str]
    created_at: datetime

    @staticmethod
    def of(row: Any) -> ConversationRow:
        return ConversationRow(
            id=row.id,
            org_id=row.org_id,
            log=(row.log_id, int(row.log_length)),
            hidden=tuple(orjson.loads(row.hidden)),
            metadata=orjson.loads(row.metadata),
            created_at=row.created_at,
        )


@functools.cache
def _select_statement() -> Select[Any]:
    return select(conversations).where(
        conversations.c.id == bindparam("conversation_id"), conversations.c.org_id == bindparam("org_id")
    )


@functools.cache
def _lock_statement() -> Update:
    # A write first: on SQLite it takes the database's write lock at once, on PostgreSQL the row's.
    return (
        update(conversations)
        .where(
            conversations.c.id == bindparam("conversation_id"),
            conversations.c.org_id == bindparam("owner_id"),
        )
        .values(updated_at=bindparam("touched_at"))
        .returning(*conversations.c)
    )


async def get(conn: AsyncConnection, org_id: str, conversation_id: str) -> ConversationRow | None:
    found = (
        await conn.execute(_select_statement(), {"conversation_id": conversation_id, "org_id": org_id})
    ).first()
    return ConversationRow.of(found) if found is not None else None


async def lock(
    conn: AsyncConnection, org_id: str, conversation_id: str, now: datetime
) -> ConversationRow | None:
    """The conversation's row, locked until the transaction ends (None when there is no such row). Call
    it as the transaction's first statement."""
    values = {"conversation_id": conversation_id, "owner_id": org_id, "touched_at": now}
    found = (await conn.execute(_lock_statement(), values)).first()
    return ConversationRow.of(found) if found is not None else None


async def create(
    conn: AsyncConnection,
    org_id: str,
    conversation_id: str,
    metadata: dict[str, str],
    messages: list[Message],
    now: datetime,
) -> tuple[ConversationRow, log_appends.Written | None]:
    """A new conversation, its first `messages` in a new log (no log for none)."""
    written = await log_appends.append(conn, org_id, None, None, messages, now) if messages else None
    log_id = written.log_id if written is not None else None
    await conn.execute(
        insert(conversations).values(
            id=conversation_id,
            org_id=org_id,
            log_id=log_id,
            log_length=len(messages),
            hidden="[]",
            metadata=orjson.dumps(metadata).decode(),
            created_at=now,
            updated_at=now,
        )
    )
    row = ConversationRow(conversation_id, org_id, (log_id, len(messages)), (), metadata, now)
    return row, written


async def append(
    conn: AsyncConnection, row: ConversationRow, messages: list[Message], now: datetime
) -> log_appends.Written:
    """Appends `messages` after the conversation's end (its row locked by `lock`) and moves its end past
    them. The row holds the log up to its end, so the log is never copied: at its tip the messages go in
    place, else (something else continued the log) in a fork."""
    written = await log_appends.append(conn, row.org_id, row.log, None, messages, now)
    await set_end(conn, row, (written.log_id, written.start + len(messages)), now)
    return written


async def set_end(conn: AsyncConnection, row: ConversationRow, log: LogEnd, now: datetime) -> None:
    await update_fields(conn, row, now, log=log)


async def update_fields(
    conn: AsyncConnection,
    row: ConversationRow,
    now: datetime,
    *,
    log: LogEnd | None = None,
    metadata: dict[str, str] | None = None,
    hidden: tuple[str, ...] | None = None,
) -> None:
    """Sets the given fields of the conversation's row (and `updated_at`)."""
    values: dict[str, Any] = {"updated_at": now}
    if log is not None:
        values["log_id"], values["log_length"] = log
    if metadata is not None:
        values["metadata"] = orjson.dumps(metadata).decode()
    if hidden is not None:
        values["hidden"] = orjson.dumps(list(hidden)).decode()
    await conn.execute(
        update(conversations)
        .where(conversations.c.id == row.id, conversations.c.org_id == row.org_id)
        .values(**values)
    )


async def delete_row(conn: AsyncConnection, cache: MessageCache, row: ConversationRow) -> None:
    """Deletes the conversation, then the messages nothing else (a chat, a session) still reads."""
    await conn.execute(
        delete(conversations).where(conversations.c.id == row.id, conversations.c.org_id == row.org_id)
    )
    await message_logs.release(conn, cache, [row.log[0]])


async def messages(conn: AsyncConnection, cache: MessageCache, row: ConversationRow) -> list[Message]:
    """The conversation's messages (deleted items included: `hidden` says which); from this process's
    cache when it holds them, with their JSON, so a turn neither reads nor encodes its history again."""
    log_id, length = row.log
    if log_id is None or length == 0:
        return []
    held = message_logs.cached(cache, log_id, length)
    if held is not None:
        return held
    found = await message_logs.read(conn, cache, {log_id: length})
    return found.get(log_id, [])
