"""SQLite: a turn's usual writes as the driver's own statements (see `raw_sqlite`), in the caller's write
transaction. Each function returns None, having written nothing, when its case is not the usual one;
the caller then goes on in the same transaction the general way (`message_logs.append`, ...).

- A new conversation's chat: one INSERT (held back by the driver until the COMMIT, in its trip).
- A chain's turn: the log advanced while the continued chat exists and the log still ends where the
  turn read it, then its messages and the chat.
- A session's turn: the session updated (new end, costs, lease released) only while the turn holds the
  lease and the session is as the lease found it, then the log advanced, its messages and the chat.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chatloom.store import chats, message_logs
from chatloom.store.documents import Document
from chatloom.store.raw_sqlite import execute
from chatloom.store.sqlite_driver import OneHopConnection
from chatloom.store.tables import chats as chats_table

_ADVANCE = "UPDATE message_logs SET length = :new_length WHERE id = :log_id AND length = :at"
_ADVANCE_WHILE_CHAT = (
    _ADVANCE + " AND EXISTS (SELECT 1 FROM chats WHERE id = :continued_id AND org_id = :org_id)"
)
_INSERT_ROW = "INSERT INTO log_messages (log_id, seq, body) VALUES (:log_id, :seq, :body)"
_STORE_TURN = """UPDATE sessions SET body = :body, cost = :cost, updated_at = :updated_at,
    expires_at = :expires_at, log_id = :log_id, log_length = :log_length, lease_owner = :lease_owner,
    lease_until = :lease_until
WHERE id = :doc_id AND org_id = :org_id AND lease_owner = :owner AND body = :seen_body
    AND log_id = :seen_log_id AND log_length = :seen_log_length"""


@functools.cache
def _insert_chat() -> str:
    columns = [column.name for column in chats_table.columns]
    return f"INSERT INTO chats ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"


async def insert_first_chat(
    driver: OneHopConnection, org_id: str, chat_id: str, document: Document, now: datetime
) -> None:
    """A chat that starts a conversation, its messages in its row (`chats.insert_inline`)."""
    await execute(driver, _insert_chat(), chats.inline_row_of(org_id, chat_id, document, now))


@dataclass(slots=True)
class TipAppend:
    """A turn's messages and chat, ready to go at the tip of its log: prepared before the transaction,
    so that the database's write lock is held for the statements only."""

    advance: dict[str, Any]
    rows: list[dict[str, Any]]
    chat_row: dict[str, Any]
    written: message_logs.Written
    continues_chat: bool


def tip_append(
    org_id: str,
    chat_id: str,
    document: Document,
    base: tuple[str, int],
    added: list[Any],
    now: datetime,
    continued_id: str | None = None,
) -> TipAppend:
    """`added` to go at `base` (the end of the log the turn read), with the chat after them; for a
    chain, only while the continued chat (`continued_id`) exists."""
    log_id, at = base
    bodies, size = message_logs.encode(added)
    advance: dict[str, Any] = {"log_id": log_id, "at": at, "new_length": at + len(added)}
    if continued_id is not None:
        advance.update(continued_id=continued_id, org_id=org_id)
    rows = [{"log_id": log_id, "seq": at + index, "body": body} for index, body in enumerate(bodies)]
    place = chats.place_after(log_id, at, len(added), len(document["output"]))
    chat_row = chats.row_of(org_id, chat_id, document, place, now)
    written = message_logs.Written(log_id, at, added, size)
    return TipAppend(advance, rows, chat_row, written, continued_id is not None)


async def append_at_tip(driver: OneHopConnection, prepared: TipAppend) -> message_logs.Written | None:
    """Writes `prepared` when the log still ends where the turn read it and, for a chain, the continued
    chat still exists (the database's write lock, taken by the transaction's first statement, keeps it
    there until the COMMIT)."""
    statement = _ADVANCE_WHILE_CHAT if prepared.continues_chat else _ADVANCE
    _, advanced = await execute(driver, statement, prepared.advance)
    if not advanced:
        return None
    await execute(driver, _INSERT_ROW, prepared.rows)
    await execute(driver, _insert_chat(), prepared.chat_row)
    return prepared.written


async def store_session_turn(driver: OneHopConnection, values: dict[str, Any]) -> bool:
    """Records a turn on the session as the transaction's first statement, releasing its lease, while
    the turn holds the lease and the session is as the lease found it (`sessions.unchanged_turn_values`);
    False (nothing written) otherwise."""
    _, updated = await execute(driver, _STORE_TURN, values)
    return bool(updated)
