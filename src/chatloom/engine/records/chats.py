"""Chats outside a turn: read, listed (with a total), deleted (with the messages nothing else reads), and
their costs per day. Each operation is one short transaction scoped to the caller's org."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from chatloom.domain.errors import NotFound
from chatloom.domain.ids import utc_now
from chatloom.engine.notify.server_messages import ServerMessages
from chatloom.engine.records.redaction import public_document
from chatloom.store import analytics, chats
from chatloom.store.analytics import CostGroup, DailyCost
from chatloom.store.db import Database
from chatloom.store.documents import Document, ListQuery, Page


class ChatRecords:
    """Chats are written by turns; here they are read, listed (with a total) and deleted. Deleting a chat
    also deletes the messages no other chat or session still reads."""

    def __init__(self, db: Database, server_messages: ServerMessages) -> None:
        self.db = db
        self.server_messages = server_messages

    async def get(self, org_id: str, doc_id: str) -> Document:
        async with self.db.read() as conn:
            document = await chats.get(conn, self.db.messages, org_id, doc_id)
        if document is None:
            raise NotFound(f"Chat {doc_id} not found")
        return public_document(document)

    async def delete(self, org_id: str, doc_id: str) -> Document:
        async with self.db.write() as conn:
            document = await chats.delete_chat(conn, self.db.messages, org_id, doc_id)
        if document is None:
            raise NotFound(f"Chat {doc_id} not found")
        document = public_document(document)
        await self.server_messages.about("chat.deleted", org_id, document, {"chat": document})
        return document

    async def page(self, org_id: str, query: ListQuery) -> Page:
        async with self.db.read() as conn:
            page = await chats.list_(conn, self.db.messages, org_id, query, count=True)
        page.items = [public_document(document) for document in page.items]
        return page

    async def daily_costs(self, org_id: str, days: int, group_by: CostGroup) -> CostReport:
        """Costs of the last `days` UTC days (today included), per day and per group."""
        today = utc_now().date()
        first = today - timedelta(days=days - 1)
        since = datetime.combine(first, time.min, tzinfo=UTC)
        async with self.db.read() as conn:
            rows = await analytics.daily_costs(conn, org_id, since, group_by)
        return CostReport(first, today, [row for row in rows if first <= row.day <= today])


@dataclass(frozen=True, slots=True)
class CostReport:
    first_day: date
    last_day: date
    rows: list[DailyCost]
