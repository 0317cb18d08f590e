"""Append-only message logs: every message of a conversation is one `log_messages` row, written once.

A log is a linear sequence; a fork is a new log that starts with its parent's first `parent_length`
messages, so chains and sessions share their history instead of copying it. A row (log_id, seq) is
never rewritten (messages are only appended at a log's `length`, which never goes down), so decoded
prefixes can be cached per process without any invalidation (store/message_cache.py).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import (
    Delete,
    Insert,
    Select,
    TextClause,
    Update,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from chatloom.domain.encoded_messages import EncodedMessages
from chatloom.domain.ids import new_id
from chatloom.store.message_cache import MessageCache
from chatloom.store.tables import chats, log_messages, message_logs, sessions

Message = Any
Segment = tuple[str, int, int]
"""(log_id, first seq, end seq) of one stretch of a conversation."""

MAX_ANCESTRY = 24
"""Forks of forks deeper than this start a new log with a copy of the prefix, so a read stays one query
with a bounded number of conditions."""
RANGES_PER_QUERY = 300


def _segments(log_id: str, ancestry: Sequence[tuple[str, int]], start: int, end: int) -> list[Segment]:
    """The stretches of `log_id`'s positions [start, end), each in the log that holds them."""
    found: list[Segment] = []
    low = 0
    for owner, upto in [*ancestry, (log_id, end)]:
        first, last = max(low, start), min(upto, end)
        if first < last:
            found.append((owner, first, last))
        low = upto
    return found


def _decode_ancestry(text: str) -> tuple[tuple[str, int], ...]:
    return tuple((str(owner), int(upto)) for owner, upto in orjson.loads(text))


@functools.cache
def _ancestry_statement() -> Select[Any]:
    return select(message_logs.c.id, message_logs.c.ancestry).where(
        message_logs.c.id.in_(bindparam("ids", expanding=True))
    )


def cached(cache: MessageCache, log_id: str, end: int) -> EncodedMessages | None:
    """The log's first `end` messages from this process's cache (a new list, with their JSON), or None
    if not all there."""
    entry = cache.get(log_id)
    return entry.prefix(end) if entry is not None and len(entry.messages) >= end else None


async def read(
    conn: AsyncConnection, cache: MessageCache, wanted: Mapping[str, int]
) -> dict[str, list[Message]]:
    """The first `end` messages of each wanted log (a new list each), in a constant number of queries.

    A log whose rows are gone (deleted meanwhile) comes back shorter than asked: the caller then treats
    whatever referenced it as deleted.
    """
    result: dict[str, list[Message]] = {}
    missing: dict[str, tuple[int, int]] = {}
    ancestries: dict[str, tuple[tuple[str, int], ...]] = {}
    known: dict[str, tuple[list[Message], int]] = {}
    for log_id, end in wanted.items():
        entry = cache.get(log_id)
        have = len(entry.messages) if entry is not None else 0
        if entry is not None and have >= end:
            result[log_id] = entry.messages[:end]
            continue
        missing[log_id] = (have, end)
        if entry is not None:
            ancestries[log_id] = entry.ancestry
            # A copy taken now: other turns of this process may extend the entry while this one waits.
            known[log_id] = (entry.messages[:have], entry.size)
    if not missing:
        return result
    unknown = [log_id for log_id in missing if log_id not in ancestries]
    if unknown:
        for row in (await conn.execute(_ancestry_statement(), {"ids": unknown})).all():
            ancestries[row.id] = _decode_ancestry(row.ancestry)
    plans: dict[str, list[Segment]] = {}
    for log_id, (have, end) in missing.items():
        ancestry = ancestries.get(log_id)
        plans[log_id] = _segments(log_id, ancestry, have, end) if ancestry is not None else []
    rows = await _fetch(conn, {segment for plan in plans.values() for segment in plan})
    for log_id, (have, end) in missing.items():
        messages, size = known.get(log_id, ([], 0))
        ancestry = ancestries.get(log_id)
        complete = ancestry is not None
        for owner, first, last in plans[log_id]:
            for seq in range(first, last):
                body = rows.get((owner, seq))
                if body is None:
                    complete = False
                    break
                messages.append(orjson.loads(body))
                size += len(body)
            if not complete:
                break
        if ancestry is not None and len(messages) > have:
            cache.put(log_id, ancestry, messages, size)
        result[log_id] = messages[:end]
    return result


async def _fetch(conn: AsyncConnection, segments: Iterable[Segment]) -> dict[tuple[str, int], str]:
    """The bodies of the rows in `segments`, by (log_id, seq); a few hundred ranges per query."""
    merged: dict[str, list[tuple[int, int]]] = {}
    for owner, first, last in segments:
        merged.setdefault(owner, []).append((first, last))
    ranges: list[ColumnElement[bool]] = []
    for owner, spans in merged.items():
        spans.sort()
        current = list(spans[0])
        for first, last in spans[1:]:
            if first <= current[1]:
                current[1] = max(current[1], last)
            else:
                ranges.append(_range(owner, current[0], current[1]))
                current = [first, last]
        ranges.append(_range(owner, current[0], current[1]))
    found: dict[tuple[str, int], str] = {}
    columns = (log_messages.c.log_id, log_messages.c.seq, log_messages.c.body)
    for index in range(0, len(ranges), RANGES_PER_QUERY):
        chunk = ranges[index : index + RANGES_PER_QUERY]
        statement = select(*columns).where(or_(*chunk))
        for row in (await conn.execute(statement)).all():
            found[(row.log_id, row.seq)] = row.body
    return found


def _range(owner: str, first: int, last: int) -> ColumnElement[bool]:
    column = log_messages.c
    if last - first == 1:
        return (column.log_id == owner) & (column.seq == first)
    return (column.log_id == owner) & (column.seq >= first) & (column.seq < last)


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
at `:at`, as CTEs `advanced` and `appended` (also used by `one_statement_turns`)."""
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
            ancestry = (*_decode_ancestry(parent.ancestry), (log_id, end))
            if len(ancestry) <= MAX_ANCESTRY:
                fork = await _new_log(
                    conn, org_id, ancestry, log_id, end, end + len(bodies), now, end, bodies
                )
                return Written(fork, end, messages, size, ancestry, prefix)
            # Too deep: a new root log, its prefix copied row for row inside the database.
            root = await _new_log(conn, org_id, (), None, 0, end + len(bodies), now, end, bodies)
            for owner, first, last in _segments(log_id, ancestry[:-1], 0, end):
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


@functools.cache
def _delete_rows_from() -> Delete:
    return delete(log_messages).where(
        log_messages.c.log_id == bindparam("log_id"), log_messages.c.seq >= bindparam("keep")
    )


async def release(conn: AsyncConnection, cache: MessageCache, log_ids: Iterable[str | None]) -> None:
    """After a chat or session stopped referencing these logs (deleted, or its messages replaced): deletes
    the messages nothing references any more, and logs (then their parents) nothing references at all.

    Each log is locked first; appending and forking lock it too, so a reference being added concurrently
    is either seen here or finds the log gone and copies what it needs.
    """
    pending = [log_id for log_id in log_ids if log_id is not None]
    seen: set[str] = set()
    while pending:
        log_id = pending.pop()
        if log_id in seen:
            continue
        seen.add(log_id)
        row = (
            await conn.execute(
                select(message_logs.c.parent_log_id, message_logs.c.length)
                .where(message_logs.c.id == log_id)
                .with_for_update()
            )
        ).first()
        if row is None:
            continue
        keep = await _referenced_length(conn, log_id)
        if keep > 0:
            # The tip (`length`) stays: positions past `keep` are never written again, so no cached
            # prefix anywhere can disagree with what a later reader asks for.
            await conn.execute(_delete_rows_from(), {"log_id": log_id, "keep": keep})
            cache.forget_past(log_id, keep)
            continue
        await conn.execute(delete(log_messages).where(log_messages.c.log_id == log_id))
        await conn.execute(delete(message_logs).where(message_logs.c.id == log_id))
        cache.forget(log_id)
        if row.parent_log_id is not None:
            pending.append(row.parent_log_id)


async def _referenced_length(conn: AsyncConnection, log_id: str) -> int:
    """How far into the log anything still reads: chats, sessions and forks."""
    by_chats = select(func.max(chats.c.output_end)).where(chats.c.log_id == log_id).scalar_subquery()
    by_sessions = select(func.max(sessions.c.log_length)).where(sessions.c.log_id == log_id).scalar_subquery()
    by_forks = (
        select(func.max(message_logs.c.parent_length))
        .where(message_logs.c.parent_log_id == log_id)
        .scalar_subquery()
    )
    row = (await conn.execute(select(by_chats, by_sessions, by_forks))).one()
    return max(int(value or 0) for value in row)
