"""Appending to message logs: a turn's messages go at a log's tip when it still ends where the turn read it,
else into a fork (a new log whose ancestry names its parent's prefix), or, when nothing holds that prefix
any more, into a new log that starts with a copy of the history the turn saw. Nothing is ever lost."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import (
    Insert,
    Select,
    TextClause,
    Update,
    bindparam,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from chatloom.domain.ids import new_id
from chatloom.store.message_cache import MessageCache
from chatloom.store.message_logs import MAX_ANCESTRY, Message, decode_ancestry, log_segments
from chatloom.store.tables import chats, log_messages, message_logs


@dataclass(slots=True)
class Written:
    """Where appended messages went: `log_id` at positions [start, start + len(messages)). `prefix` is
    the log's messages before `start` when known with the log's `ancestry` (to seed the cache)."""

    log_id: str
    start: int
    messages: list[Message]
    size: int
    ancestry: tuple[tuple[str, int], ...] = ()
    prefix: list[Message] | None = None

    def cached(self, cache: MessageCache) -> None:
        """Records the written messages in this process's cache; call only after the commit."""
        if cache.extend(self.log_id, self.start, self.messages, self.size):
            return
        if self.prefix is not None and len(self.prefix) == self.start:
            prefix_size = len(orjson.dumps(self.prefix)) if self.prefix else 0
            cache.put(self.log_id, self.ancestry, [*self.prefix, *self.messages], prefix_size + self.size)


def encode(messages: list[Message]) -> tuple[list[str], int]:
    """The messages' stored bodies, and their size."""
    bodies = [orjson.dumps(message).decode() for message in messages]
    return bodies, sum(len(body) for body in bodies)


@functools.cache
def _advance_statement() -> Update:
    return (
        update(message_logs)
        .where(message_logs.c.id == bindparam("log_id"), message_logs.c.length == bindparam("at"))
        .values(length=bindparam("new_length"))
    )


@functools.cache
def _advance_while_chat_statement() -> Update:
    chat = select(chats.c.id).where(
        chats.c.id == bindparam("chat_id"), chats.c.org_id == bindparam("chat_org_id")
    )
    return _advance_statement().where(chat.exists())


PG_ADVANCE_AND_APPEND = """advanced AS (
    UPDATE message_logs SET length = CAST(:new_length AS integer)
    WHERE id = :log_id AND length = CAST(:at AS integer){condition}
    RETURNING id
), appended AS (
    INSERT INTO log_messages (log_id, seq, body)
    SELECT advanced.id, CAST(:at AS integer) + CAST(row.position AS integer) - 1, row.body
    FROM advanced, unnest(CAST(:bodies AS text[])) WITH ORDINALITY AS row(body, position)
    RETURNING 1
)"""
"""PostgreSQL: the log advanced from `:at` to `:new_length` (if `condition` holds) and `:bodies` appended
at `:at`, as CTEs `advanced` and `appended` (also used by `turns.chain` and `turns.session`)."""


_PG_APPEND = (
    """
WITH {held}"""
    + PG_ADVANCE_AND_APPEND
    + """
SELECT (SELECT count(*) FROM advanced) AS advanced, (SELECT count(*) FROM appended) AS appended
"""
)


_PG_HELD = """held AS (
    SELECT id FROM chats WHERE id = :chat_id AND org_id = :chat_org_id FOR SHARE
), """


@functools.cache
def _pg_append_statement(holding_chat: bool) -> TextClause:
    """PostgreSQL: the advance and the new rows in one statement (one round trip). With `holding_chat`
    the continued chat is held against deletion (FOR SHARE) in it too: a chat deleted meanwhile
    (committed, or in a transaction this waits for) holds nothing, and the log is not advanced."""
    return text(
        _PG_APPEND.format(
            held=_PG_HELD if holding_chat else "",
            condition=" AND EXISTS (SELECT 1 FROM held)" if holding_chat else "",
        )
    )


@functools.cache
def _hold_chat_statement() -> Select[Any]:
    return (
        select(chats.c.id)
        .where(chats.c.id == bindparam("chat_id"), chats.c.org_id == bindparam("org_id"))
        .with_for_update(read=True)
    )


async def _hold_chat(conn: AsyncConnection, org_id: str, chat_id: str) -> bool:
    """Locks the chat against deletion until the transaction ends; False when it is gone."""
    found = await conn.execute(_hold_chat_statement(), {"chat_id": chat_id, "org_id": org_id})
    return found.first() is not None


# The hot statements are built once: building one per call (`insert(...).values(rows)`) costs more than
# a round trip to the database.
@functools.cache
def _insert_rows_statement() -> Insert:
    return insert(log_messages)


@functools.cache
def _insert_log_statement() -> Insert:
    return insert(message_logs)


async def append(
    conn: AsyncConnection,
    org_id: str,
    base: tuple[str | None, int] | None,
    prefix: list[Message] | None,
    messages: list[Message],
    now: datetime,
    *,
    base_is_held: bool = True,
    continues_chat: str | None = None,
) -> Written:
    """Appends `messages` after position `base` = (log_id, end) (None: a new conversation), inside the
    caller's write transaction: in place when `end` is the log's tip, else in a new fork.

    `base_is_held` promises that something the transaction has locked (the chat being continued, the
    session) references the log up to `end`, so those rows cannot be deleted meanwhile. Without that
    promise, or when the log is gone, the new log starts with a copy of `prefix` (the messages the turn
    saw), so nothing the turn saw is ever lost.

    `continues_chat` names the chat whose end `base` is: the base is held while that chat exists, which
    is checked inside the appending statement itself (on PostgreSQL it takes a share lock on the chat;
    on SQLite the database write lock covers it), so a turn saves a statement. On PostgreSQL the advance
    and the new rows are one statement too.
    """
    bodies, size = encode(messages)
    if base is None or base[1] == 0:
        fresh = await _new_log(conn, org_id, (), None, 0, len(bodies), now, 0, bodies)
        return Written(fresh, 0, messages, size, (), [])
    log_id, end = base
    in_statement = continues_chat is not None and log_id is not None
    if log_id is not None and (base_is_held or in_statement) and conn.dialect.name == "postgresql":
        values = {"log_id": log_id, "at": end, "new_length": end + len(bodies), "bodies": bodies}
        if in_statement:
            values.update(chat_id=continues_chat, chat_org_id=org_id)
        counts = (await conn.execute(_pg_append_statement(in_statement), values)).one()
        if counts.advanced:
            return Written(log_id, end, messages, size)
        if in_statement:
            base_is_held = await _hold_chat(conn, org_id, str(continues_chat))
    elif log_id is not None and (base_is_held or in_statement):
        values = {"log_id": log_id, "at": end, "new_length": end + len(bodies)}
        if in_statement:
            values.update(chat_id=continues_chat, chat_org_id=org_id)
            advanced = await conn.execute(_advance_while_chat_statement(), values)
        else:
            advanced = await conn.execute(_advance_statement(), values)
        if advanced.rowcount:
            rows = [{"log_id": log_id, "seq": end + index, "body": body} for index, body in enumerate(bodies)]
            await conn.execute(_insert_rows_statement(), rows)
            return Written(log_id, end, messages, size)
        if in_statement:
            base_is_held = await _hold_chat(conn, org_id, str(continues_chat))
    if log_id is not None and base_is_held:
        parent = (
            await conn.execute(
                select(message_logs.c.ancestry)
                .where(message_logs.c.id == log_id, message_logs.c.org_id == org_id)
                .with_for_update(read=True)
            )
        ).first()
        if parent is not None:
            ancestry = (*decode_ancestry(parent.ancestry), (log_id, end))
            if len(ancestry) <= MAX_ANCESTRY:
                fork = await _new_log(
                    conn, org_id, ancestry, log_id, end, end + len(bodies), now, end, bodies
                )
                return Written(fork, end, messages, size, ancestry, prefix)
            # Too deep: a new root log, its prefix copied row for row inside the database.
            root = await _new_log(conn, org_id, (), None, 0, end + len(bodies), now, end, bodies)
            for owner, first, last in log_segments(log_id, ancestry[:-1], 0, end):
                source = select(
                    bindparam("root", root).label("log_id"), log_messages.c.seq, log_messages.c.body
                ).where(
                    log_messages.c.log_id == owner, log_messages.c.seq >= first, log_messages.c.seq < last
                )
                await conn.execute(insert(log_messages).from_select(["log_id", "seq", "body"], source))
            return Written(root, end, messages, size, (), prefix)
    if prefix is None or len(prefix) != end:
        raise RuntimeError("a conversation's history is needed to store it in a new log")
    copied = [orjson.dumps(message).decode() for message in prefix]
    root = await _new_log(conn, org_id, (), None, 0, end + len(bodies), now, 0, [*copied, *bodies])
    return Written(root, end, messages, size, (), prefix)


async def _new_log(
    conn: AsyncConnection,
    org_id: str,
    ancestry: tuple[tuple[str, int], ...],
    parent: str | None,
    parent_length: int,
    length: int,
    now: datetime,
    start: int,
    bodies: list[str],
) -> str:
    """A new log, with `bodies` as its rows from position `start`."""
    log_id = new_id()
    header = {
        "id": log_id,
        "org_id": org_id,
        "parent_log_id": parent,
        "parent_length": parent_length,
        "ancestry": orjson.dumps([list(segment) for segment in ancestry]).decode(),
        "length": length,
        "created_at": now,
    }
    rows = [{"log_id": log_id, "seq": start + index, "body": body} for index, body in enumerate(bodies)]
    await conn.execute(_insert_log_statement(), header)
    if rows:
        await conn.execute(_insert_rows_statement(), rows)
    return log_id


async def create(
    conn: AsyncConnection, org_id: str, messages: list[Message], now: datetime
) -> tuple[str | None, int]:
    """A new log holding `messages` (no log for none): (log_id, length)."""
    if not messages:
        return None, 0
    written = await append(conn, org_id, None, None, messages, now)
    return written.log_id, len(messages)
