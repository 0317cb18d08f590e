"""Chat documents, scoped to their org. A chat is written once, when its turn completes.

Its messages live in a message log: the row keeps where (`log_id`, and the ends of its history, input
and output), and its body keeps `"messages": null, "output": null` placeholders that reads fill in, so
the document's keys keep their order. A chat that starts a conversation keeps its messages in its body
instead (`log_id` null) until another chat continues it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, delete, select
from sqlalchemy import insert as sa_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from chatloom.domain.encoded_messages import EncodedMessages
from chatloom.store import message_logs
from chatloom.store.db import Database
from chatloom.store.documents import (
    Document,
    ListQuery,
    Page,
    dump_body,
    insert_document,
    list_documents,
    to_document,
)
from chatloom.store.message_cache import MessageCache
from chatloom.store.tables import chats

SORTABLE = {"createdAt": "created_at", "cost": "cost", "duration": "created_at"}
"""`sortBy` values and their columns; a text chat has no duration, so `duration` sorts by creation."""


def _columns(document: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "assistant_id": document.get("assistantId"),
        "squad_id": document.get("squadId"),
        "session_id": document.get("sessionId"),
        "previous_chat_id": document.get("previousChatId"),
        "name": document.get("name"),
        "cost": document.get("cost", 0.0),
        "model": model_of(document),
    }


def model_of(document: Mapping[str, Any]) -> str | None:
    """The model that produced a chat's reply: the last `costs` entry's (a fallback's, when one
    answered after the first model failed)."""
    costs = document.get("costs")
    if not isinstance(costs, list):
        return None
    for entry in reversed(costs):
        model = entry.get("model") if isinstance(entry, dict) else None
        if isinstance(model, dict) and isinstance(model.get("model"), str):
            return str(model["model"])[:100]
    return None


@dataclass(slots=True)
class LogPlace:
    """Where a chat's messages are: log[0:history_end) history, then its input, then its output."""

    log_id: str
    history_end: int
    input_end: int
    output_end: int


@dataclass(slots=True)
class StoredChat:
    document: Document
    place: LogPlace | None
    conversation: EncodedMessages | None = None
    """`messages` then `output`, with their JSON, when they came from this process's cache."""


def place_after(log_id: str, at: int, added: int, output: int) -> LogPlace:
    """Where a turn's chat reads its messages once its `added` messages (input, then `output` of them)
    are appended to `log_id` at position `at`."""
    return LogPlace(log_id, at, at + added - output, at + added)


def row_of(org_id: str, chat_id: str, document: Document, place: LogPlace, now: datetime) -> dict[str, Any]:
    """The chat's row, every column; its `messages` and `output` are in the log at `place`."""
    return {
        "id": chat_id,
        "org_id": org_id,
        "body": dump_body({**document, "messages": None, "output": None}),
        "created_at": now,
        "updated_at": now,
        **_columns(document),
        "log_id": place.log_id,
        "history_end": place.history_end,
        "input_end": place.input_end,
        "output_end": place.output_end,
    }


async def insert(
    conn: AsyncConnection, org_id: str, chat_id: str, document: Document, place: LogPlace, now: datetime
) -> None:
    """Stores the chat; its `messages` and `output` are already in the log at `place`."""
    await conn.execute(_INSERT, row_of(org_id, chat_id, document, place, now))


def inline_row_of(org_id: str, chat_id: str, document: Document, now: datetime) -> dict[str, Any]:
    """The row of a chat that starts a conversation: its messages in its body, no log."""
    return {
        "id": chat_id,
        "org_id": org_id,
        "body": dump_body(document),
        "created_at": now,
        "updated_at": now,
        **_columns(document),
        "log_id": None,
        "history_end": None,
        "input_end": None,
        "output_end": None,
    }


async def insert_inline(
    conn: AsyncConnection, org_id: str, chat_id: str, document: Document, now: datetime
) -> None:
    """Stores a chat that starts a conversation with its messages in its own row: no log is made until
    another chat continues it (which then starts a log with a copy of them), so the common single-turn
    chat costs one statement."""
    await insert_document(
        conn,
        chats,
        org_id=org_id,
        doc_id=chat_id,
        document=document,
        created_at=now,
        columns=_columns(document),
    )


def _place(row: Row[Any]) -> LogPlace | None:
    if row.log_id is None:
        return None
    return LogPlace(row.log_id, row.history_end, row.input_end, row.output_end)


async def _filled(conn: AsyncConnection, cache: MessageCache, rows: Sequence[Row[Any]]) -> list[StoredChat]:
    """The rows' documents with their messages, in a constant number of queries; a chat whose messages
    are gone (deleted while this read ran) is left out."""
    wanted: dict[str, int] = {}
    for row in rows:
        if row.log_id is not None:
            wanted[row.log_id] = max(wanted.get(row.log_id, 0), row.output_end)
    logs = await message_logs.read(conn, cache, wanted) if wanted else {}
    found: list[StoredChat] = []
    for row in rows:
        place = _place(row)
        if place is None:
            found.append(StoredChat(to_document(row), None))
            continue
        messages = logs.get(place.log_id, [])
        if len(messages) >= place.output_end:
            found.append(_stored(row, place, messages))
    return found


def _stored(row: Any, place: LogPlace, log: list[Any]) -> StoredChat:
    """The chat of `row` with its messages and output from `log` (the log's first messages, at least up
    to the chat's end); a log of exactly that length with its JSON is kept as the conversation."""
    document = to_document(row)
    document["messages"] = log[: place.input_end]
    document["output"] = log[place.input_end : place.output_end]
    exact = log if isinstance(log, EncodedMessages) and len(log) == place.output_end else None
    return StoredChat(document, place, exact)


_INSERT = sa_insert(chats)
_GET = select(chats).where(chats.c.id == bindparam("doc_id"), chats.c.org_id == bindparam("org_id"))


async def read(conn: AsyncConnection, cache: MessageCache, org_id: str, chat_id: str) -> StoredChat | None:
    row = (await conn.execute(_GET, {"doc_id": chat_id, "org_id": org_id})).first()
    if row is None:
        return None
    found = await _filled(conn, cache, [row])
    return found[0] if found else None


_RAW_GET = "SELECT * FROM chats WHERE id = :doc_id AND org_id = :org_id"


async def read_continued(
    db: Database, connect: Callable[[], Awaitable[AsyncConnection]], org_id: str, chat_id: str
) -> StoredChat | None:
    """The chat a turn continues (`previousChatId`). Its row comes straight from the driver (asyncpg, or
    SQLite's reading connection: every chain turn reads one); its messages usually come from this
    process's cache, and `connect` opens a connection only when some must be read."""
    values = {"doc_id": chat_id, "org_id": org_id}
    row: Any
    if db.raw is not None:
        row = await db.raw.fetchrow(_RAW_GET, values)
    elif db.sqlite_reader is not None:
        row = await db.sqlite_reader.fetchrow(_RAW_GET, values)
    else:
        return await read(await connect(), db.messages, org_id, chat_id)
    if row is None:
        return None
    place = _place(row)
    if place is None:  # a conversation's first chat: its messages are in its row
        return StoredChat(to_document(row), None)
    messages = message_logs.cached(db.messages, place.log_id, place.output_end)
    if messages is None:
        found = await _filled(await connect(), db.messages, [row])
        return found[0] if found else None
    return _stored(row, place, messages)


async def get(conn: AsyncConnection, cache: MessageCache, org_id: str, chat_id: str) -> Document | None:
    stored = await read(conn, cache, org_id, chat_id)
    return stored.document if stored is not None else None


async def list_(
    conn: AsyncConnection, cache: MessageCache, org_id: str, query: ListQuery, *, count: bool = False
) -> Page:
    rows: list[Row[Any]] = []

    def keep(row: Row[Any]) -> Document:
        rows.append(row)
        return {}

    page = await list_documents(conn, chats, org_id, query, count=count, convert=keep)
    page.items = [stored.document for stored in await _filled(conn, cache, rows)]
    return page


async def delete_chat(
    conn: AsyncConnection, cache: MessageCache, org_id: str, chat_id: str
) -> Document | None:
    """Deletes the chat and the messages nothing else references any more; returns the chat as it was."""
    stored = await read(conn, cache, org_id, chat_id)
    if stored is None:
        return None
    await conn.execute(delete(chats).where(chats.c.id == chat_id, chats.c.org_id == org_id))
    if stored.place is not None:
        await message_logs.release(conn, cache, [stored.place.log_id])
    return stored.document
