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


async def record_on_conversation(db: Database, record: TurnRecord) -> list[log_appends.Written]:
    """Stores the turn and its messages in its conversation. The chat reads its messages from the
    conversation's log, unless that log holds items deleted from the conversation (the turn never saw
    them, and a continued chat must not send them again) or the conversation was deleted during the turn:
    then the chat gets a log of its own holding what the turn saw."""
    assert record.conversation is not None
    org_id, added = record.org_id, record.added
    async with db.write(starts_with_write=True) as conn:
        row = await conversations.lock(conn, org_id, record.conversation, record.at)
        written = [] if row is None else [await conversations.append(conn, row, added, record.at)]
        if row is not None and not row.hidden:
            log_id, at = written[0].log_id, written[0].start
        else:
            seen = [*record.history, *added]
            own = await log_appends.append(conn, org_id, None, None, seen, record.at)
            written.append(own)
            log_id, at = own.log_id, len(record.history)
        place = chats.place_after(log_id, at, len(added), len(record.chat["output"]))
        await chats.insert(conn, org_id, record.chat_id, record.chat, place, record.at)
    return written
