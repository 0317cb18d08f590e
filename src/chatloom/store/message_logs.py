"""Append-only message logs: every message of a conversation is one `log_messages` row, written once.

A log is a linear sequence; a fork is a new log that starts with its parent's first `parent_length`
messages, so chains and sessions share their history instead of copying it. A row (log_id, seq) is
never rewritten (messages are only appended at a log's `length`, which never goes down), so decoded
prefixes can be cached per process without any invalidation (store/message_cache.py).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson
from sqlalchemy import (
    Delete,
    Select,
    bindparam,
    delete,
    func,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from chatloom.domain.encoded_messages import EncodedMessages
from chatloom.store.message_cache import MessageCache
from chatloom.store.tables import chats, conversations, log_messages, message_logs, sessions

Message = Any
Segment = tuple[str, int, int]
"""(log_id, first seq, end seq) of one stretch of a conversation."""

MAX_ANCESTRY = 24
"""Forks of forks deeper than this start a new log with a copy of the prefix, so a read stays one query
with a bounded number of conditions."""
RANGES_PER_QUERY = 300


def log_segments(log_id: str, ancestry: Sequence[tuple[str, int]], start: int, end: int) -> list[Segment]:
    """The stretches of `log_id`'s positions [start, end), each in the log that holds them."""
    found: list[Segment] = []
    low = 0
    for owner, upto in [*ancestry, (log_id, end)]:
        first, last = max(low, start), min(upto, end)
        if first < last:
            found.append((owner, first, last))
        low = upto
    return found


def decode_ancestry(text: str) -> tuple[tuple[str, int], ...]:
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
            ancestries[row.id] = decode_ancestry(row.ancestry)
    plans: dict[str, list[Segment]] = {}
    for log_id, (have, end) in missing.items():
        ancestry = ancestries.get(log_id)
        plans[log_id] = log_segments(log_id, ancestry, have, end) if ancestry is not None else []
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
    """How far into the log anything still reads: chats, sessions, conversations and forks."""
    by_chats = select(func.max(chats.c.output_end)).where(chats.c.log_id == log_id).scalar_subquery()
    by_sessions = select(func.max(sessions.c.log_length)).where(sessions.c.log_id == log_id).scalar_subquery()
    by_conversations = (
        select(func.max(conversations.c.log_length)).where(conversations.c.log_id == log_id).scalar_subquery()
    )
    by_forks = (
        select(func.max(message_logs.c.parent_length))
        .where(message_logs.c.parent_log_id == log_id)
        .scalar_subquery()
    )
    row = (await conn.execute(select(by_chats, by_sessions, by_conversations, by_forks))).one()
    return max(int(value or 0) for value in row)
