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
from datetime import datetime
from typing import Any

from chatloom.store import chats, message_logs, sessions
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
    expires_at = :expires_at, log_id = :log_id, log_length = :log_length, lease_owner = NULL,
    lease_until = NULL
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


async def _append(
    driver: OneHopConnection,
    org_id: str,
    chat_id: str,
    document: Document,
    log_id: str,
    at: int,
    added: list[Any],
    now: datetime,
) -> message_logs.Written:
    """The rows of `added` at `at` in `log_id` (already advanced past them), and the chat."""
    bodies, size = message_logs.encode(added)
    rows = [{"log_id": log_id, "seq": at + index, "body": body} for index, body in enumerate(bodies)]
    await execute(driver, _INSERT_ROW, rows)
    place = chats.place_after(log_id, at, len(added), len(document["output"]))
    await execute(driver, _insert_chat(), chats.row_of(org_id, chat_id, document, place, now))
    return message_logs.Written(log_id, at, added, size)


async def append_at_tip(
    driver: OneHopConnection,
    org_id: str,
    chat_id: str,
    document: Document,
    base: tuple[str, int],
    added: list[Any],
    now: datetime,
    continued_id: str | None = None,
) -> message_logs.Written | None:
    """The turn's messages and its chat, when the log still ends where the turn read it (`base`) and,
    for a chain, the continued chat still exists (the database's write lock, taken by the transaction's
    first statement, keeps it there until the COMMIT)."""
    log_id, at = base
    values: dict[str, Any] = {"log_id": log_id, "at": at, "new_length": at + len(added)}
    if continued_id is not None:
        values.update(continued_id=continued_id, org_id=org_id)
    _, advanced = await execute(driver, _ADVANCE_WHILE_CHAT if continued_id else _ADVANCE, values)
    if not advanced:
        return None
    return await _append(driver, org_id, chat_id, document, log_id, at, added, now)


async def store_session_turn(
    driver: OneHopConnection,
    org_id: str,
    session: Any,
    owner: str,
    log_end: sessions.LogEnd,
    cost_entries: list[dict[str, Any]],
    now: datetime,
    active: dict[str, Any] | None,
) -> bool:
    """`sessions.store_turn_if_unchanged` as the driver's statement (the transaction's first)."""
    values = sessions.unchanged_turn_values(org_id, session, owner, log_end, cost_entries, now, active)
    del values["lease_owner"], values["lease_until"]
    _, updated = await execute(driver, _STORE_TURN, values)
    return bool(updated)
