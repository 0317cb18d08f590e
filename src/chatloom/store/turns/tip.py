"""Rule: a turn's messages go at the tip of its conversation's log only while the log still ends where the
turn read it; else they go to a fork (`log_appends.append`). SQLite's fast version: the advance, the new
rows and the chat as the one-trip driver's own statements, prepared before the transaction so that the
database's write lock is held for the statements only. (PostgreSQL's is the `advanced`/`appended` CTE
of `log_appends.PG_ADVANCE_AND_APPEND`, inside the chain and session statements.)"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chatloom.store import chats, log_appends
from chatloom.store.raw_sqlite import execute
from chatloom.store.sqlite_driver import OneHopConnection
from chatloom.store.turns.first_chat import sqlite_insert
from chatloom.store.turns.record import TurnRecord

_ADVANCE = "UPDATE message_logs SET length = :new_length WHERE id = :log_id AND length = :at"
_ADVANCE_WHILE_CHAT = (
    _ADVANCE + " AND EXISTS (SELECT 1 FROM chats WHERE id = :continued_id AND org_id = :org_id)"
)
_INSERT_ROW = "INSERT INTO log_messages (log_id, seq, body) VALUES (:log_id, :seq, :body)"


@dataclass(slots=True)
class TipAppend:
    """A turn's messages and chat, ready to go at the tip of its log (SQLite)."""

    advance: dict[str, Any]
    rows: list[dict[str, Any]]
    chat_row: dict[str, Any]
    written: log_appends.Written
    continues_chat: bool


def tip_append(record: TurnRecord, base: tuple[str, int], continues: str | None = None) -> TipAppend:
    """The record's messages to go at `base`, with the chat after them; with `continues`, only while that
    chat exists."""
    log_id, at = base
    bodies, size = log_appends.encode(record.added)
    advance: dict[str, Any] = {"log_id": log_id, "at": at, "new_length": at + len(record.added)}
    if continues is not None:
        advance.update(continued_id=continues, org_id=record.org_id)
    rows = [{"log_id": log_id, "seq": at + index, "body": body} for index, body in enumerate(bodies)]
    place = chats.place_after(log_id, at, len(record.added), len(record.chat["output"]))
    chat_row = chats.row_of(record.org_id, record.chat_id, record.chat, place, record.at)
    written = log_appends.Written(log_id, at, record.added, size)
    return TipAppend(advance, rows, chat_row, written, continues is not None)


async def append_at_tip(driver: OneHopConnection, prepared: TipAppend) -> log_appends.Written | None:
    """Writes `prepared` when the log still ends where the turn read it (and, for a chain, the continued
    chat still exists; the write lock the transaction's first statement took keeps it there until the
    COMMIT); None, having written nothing, otherwise."""
    statement = _ADVANCE_WHILE_CHAT if prepared.continues_chat else _ADVANCE
    _, advanced = await execute(driver, statement, prepared.advance)
    if not advanced:
        return None
    await execute(driver, _INSERT_ROW, prepared.rows)
    await execute(driver, sqlite_insert(), prepared.chat_row)
    return prepared.written
