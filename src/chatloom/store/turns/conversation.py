"""Rule: a turn on a conversation (OpenAI's Conversations API) appends its messages after the
conversation's end as it is when the turn is written, not as the turn read it, so two turns on one
conversation queue on its row's lock and neither loses the other's items. The chat is placed where its
messages went: it reads the conversation up to there (a concurrent turn's items included).

One portable transaction on both databases: its first statement locks the conversation's row.
"""

from __future__ import annotations

from chatloom.store import chats, conversations, log_appends
from chatloom.store.db import Database
from chatloom.store.turns.record import TurnRecord


async def record_on_conversation(db: Database, record: TurnRecord) -> log_appends.Written:
    """Stores the turn and its messages in its conversation; a conversation deleted during the turn leaves
    the chat with a log of its own holding what the turn saw."""
    assert record.conversation is not None
    org_id, added = record.org_id, record.added
    async with db.write(starts_with_write=True) as conn:
        row = await conversations.lock(conn, org_id, record.conversation, record.at)
        if row is not None:
            written = await conversations.append(conn, row, added, record.at)
            at = written.start
        else:
            written = await log_appends.append(conn, org_id, None, None, [*record.history, *added], record.at)
            at = len(record.history)
            written = log_appends.Written(written.log_id, at, added, log_appends.encode(added)[1])
        place = chats.place_after(written.log_id, at, len(added), len(record.chat["output"]))
        await chats.insert(conn, org_id, record.chat_id, record.chat, place, record.at)
    return written
