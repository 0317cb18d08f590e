"""Conversations outside a turn (OpenAI's Conversations API): created (with first messages), read,
their metadata changed, messages added, items deleted, and deleted. Each operation is one short
transaction scoped to the caller's org; another org's conversation is simply not found.

A conversation's messages live in a message log (`store/conversations.py`); deleting an item does not
rewrite the log (rows are never rewritten) but records the item's key in `hidden`. A key is the message's
position (`"7"`: its text, or the whole message when it has no tool calls) or one tool call of it
(`"7:0"`). `visible` applies them, for listing and for the history a turn reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from sqlalchemy.ext.asyncio import AsyncConnection

from chatloom.domain.errors import NotFound
from chatloom.domain.ids import utc_now
from chatloom.domain.messages import Message
from chatloom.store import conversations
from chatloom.store.conversations import ConversationRow
from chatloom.store.db import Database
from chatloom.store.message_cache import MessageCache


@dataclass(frozen=True, slots=True)
class Positioned:
    """A message of a conversation with its position (what its items' ids are made of)."""

    position: int
    message: Message


def message_key(position: int) -> str:
    return str(position)


def call_key(position: int, index: int) -> str:
    return f"{position}:{index}"


def visible(messages: list[Message], hidden: tuple[str, ...], start: int = 0) -> list[Positioned]:
    """The messages with the deleted items taken out (a message left with nothing is left out)."""
    if not hidden:
        return [Positioned(start + index, message) for index, message in enumerate(messages)]
    gone = set(hidden)
    kept: list[Positioned] = []
    for index, message in enumerate(messages):
        position = start + index
        calls = message.get("tool_calls") or []
        text_gone = message_key(position) in gone
        if not calls:
            if not text_gone:
                kept.append(Positioned(position, message))
            continue
        left = [call for number, call in enumerate(calls) if call_key(position, number) not in gone]
        content = None if text_gone else message.get("content")
        if not left and not content:
            continue
        trimmed = cast(Message, {**message, "content": content})
        if left:
            trimmed["tool_calls"] = left
        else:
            trimmed.pop("tool_calls", None)
        kept.append(Positioned(position, trimmed))
    return kept


async def history_of(
    conn: AsyncConnection, cache: MessageCache, org_id: str, conversation_id: str
) -> tuple[list[Message], tuple[str | None, int]] | None:
    """A turn's view of the conversation: its visible messages and where its log ends (None: not found)."""
    row = await conversations.get(conn, org_id, conversation_id)
    if row is None:
        return None
    found = await conversations.messages(conn, cache, row)
    if row.hidden:
        found = [entry.message for entry in visible(found, row.hidden)]
    return found, row.log


class ConversationRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(
        self, org_id: str, conversation_id: str, metadata: dict[str, str], messages: list[Message]
    ) -> ConversationRow:
        now = utc_now()
        async with self.db.write(starts_with_write=True) as conn:
            row, written = await conversations.create(conn, org_id, conversation_id, metadata, messages, now)
        if written is not None:
            written.cached(self.db.messages)
        return row

    async def get(self, org_id: str, conversation_id: str) -> ConversationRow:
        async with self.db.read() as conn:
            row = await conversations.get(conn, org_id, conversation_id)
        if row is None:
            raise _not_found(conversation_id)
        return row

    async def items(self, org_id: str, conversation_id: str) -> tuple[ConversationRow, list[Positioned]]:
        """The conversation and all its messages, oldest first (its `hidden` says which items are deleted)."""
        async with self.db.read() as conn:
            row = await conversations.get(conn, org_id, conversation_id)
            if row is None:
                raise _not_found(conversation_id)
            found = await conversations.messages(conn, self.db.messages, row)
        return row, visible(found, ())

    async def update_metadata(
        self, org_id: str, conversation_id: str, metadata: dict[str, str]
    ) -> ConversationRow:
        now = utc_now()
        async with self.db.write(starts_with_write=True) as conn:
            row = await conversations.lock(conn, org_id, conversation_id, now)
            if row is None:
                raise _not_found(conversation_id)
            await conversations.update_fields(conn, row, now, metadata=metadata)
        return ConversationRow(row.id, row.org_id, row.log, row.hidden, metadata, row.created_at)

    async def add(self, org_id: str, conversation_id: str, messages: list[Message]) -> list[Positioned]:
        """Appends `messages` after the conversation's end; the added messages with their positions."""
        now = utc_now()
        async with self.db.write(starts_with_write=True) as conn:
            row = await conversations.lock(conn, org_id, conversation_id, now)
            if row is None:
                raise _not_found(conversation_id)
            written = await conversations.append(conn, row, messages, now)
        written.cached(self.db.messages)
        return visible(messages, (), written.start)

    async def hide(self, org_id: str, conversation_id: str, keys: tuple[str, ...]) -> ConversationRow:
        """Deletes items (by key) from the conversation."""
        now = utc_now()
        async with self.db.write(starts_with_write=True) as conn:
            row = await conversations.lock(conn, org_id, conversation_id, now)
            if row is None:
                raise _not_found(conversation_id)
            hidden = tuple(dict.fromkeys([*row.hidden, *keys]))
            await conversations.update_fields(conn, row, now, hidden=hidden)
        return ConversationRow(row.id, row.org_id, row.log, hidden, row.metadata, row.created_at)

    async def delete(self, org_id: str, conversation_id: str) -> None:
        now = utc_now()
        async with self.db.write(starts_with_write=True) as conn:
            row = await conversations.lock(conn, org_id, conversation_id, now)
            if row is None:
                raise _not_found(conversation_id)
            await conversations.delete_row(conn, self.db.messages, row)


def _not_found(conversation_id: str) -> NotFound:
    return NotFound(f"Conversation {conversation_id} not found")
