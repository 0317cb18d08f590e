"""`TurnWriter.record`: stores a finished turn atomically, the shortest way its database offers.

The usual turn (a new conversation's first chat; a chain or session turn at the tip of its log, nothing
changed meanwhile) takes its rule's fast statements (`first_chat`, `chain`, `session`); anything else (a
fork, a deleted chat, a PATCH or a lost lease during the turn) is one portable transaction that reads what
it must and handles every case. `fast=False` takes the portable way always: the differential test
compares the rows both ways write.
"""

from __future__ import annotations

from chatloom.store import chats, log_appends
from chatloom.store.db import Database
from chatloom.store.turns import chain, conversation, first_chat, session
from chatloom.store.turns.record import TurnRecord
from chatloom.store.turns.tip import append_at_tip, tip_append

Written = log_appends.Written


class TurnWriter:
    def __init__(self, db: Database, fast: bool = True) -> None:
        self.db = db
        self.fast = fast

    async def record(self, record: TurnRecord) -> None:
        """Stores the turn, then seeds this process's message cache with what it wrote."""
        for written in await self._write(record):
            written.cached(self.db.messages)

    async def _write(self, record: TurnRecord) -> list[Written]:
        if record.conversation is not None:
            return await conversation.record_on_conversation(self.db, record)
        if record.new_conversation:
            await first_chat.insert(self.db, record, self.fast)
            return []
        written = await self._fast(record) if self.fast else None
        return [written] if written is not None else await self._portable(record)

    async def _fast(self, record: TurnRecord) -> Written | None:
        if self.db.raw is not None:
            if record.session is not None:
                return await session.record_on_postgres(self.db.raw, record)
            return await chain.continue_on_postgres(self.db.raw, record)
        if record.session is not None:
            values = session.sqlite_unchanged_values(record)
            if values is None:
                return None
            async with self.db.write(starts_with_write=True) as conn:
                driver = self.db.sqlite_driver(conn)
                return (
                    None if driver is None else await session.record_on_sqlite(conn, driver, record, values)
                )
        log_id, end = record.base
        if record.continues is None or log_id is None:
            return None
        prepared = tip_append(record, (log_id, end), record.continues)
        # The advance is the transaction's first statement (it writes): the driver begins it with it.
        async with self.db.write(starts_with_write=True) as conn:
            driver = self.db.sqlite_driver(conn)
            return None if driver is None else await append_at_tip(driver, prepared)

    async def _portable(self, record: TurnRecord) -> list[Written]:
        """One transaction for every case. Its first statement writes (on SQLite a session's lock is an
        UPDATE; a fresh log's INSERTs wait for the COMMIT), so the driver begins it in that trip."""
        org_id, base, turn = record.org_id, record.base, record.session
        async with self.db.write(starts_with_write=True) as conn:
            row = await session.lock(conn, org_id, turn.session_id) if turn is not None else None
            if row is not None and session.log_of(row) == base:
                # The session still ends where this turn read it: both share the append.
                written = await log_appends.append(
                    conn, org_id, base, record.history, record.added, record.at
                )
                session_written: Written | None = written
            else:
                written = await log_appends.append(
                    conn,
                    org_id,
                    base,
                    record.history,
                    record.added,
                    record.at,
                    base_is_held=False,
                    continues_chat=record.continues,
                )
                session_written = None
                if row is not None:
                    # The session's messages changed during the turn (replaced, or its lease ran out):
                    # the turn goes after what it holds now, and the chat keeps what it saw.
                    session_written = await log_appends.append(
                        conn, org_id, session.log_of(row), None, record.added, record.at
                    )
            output = len(record.chat["output"])
            place = chats.place_after(written.log_id, written.start, len(record.added), output)
            await chats.insert(conn, org_id, record.chat_id, record.chat, place, record.at)
            if turn is not None and row is not None and session_written is not None:
                end = (session_written.log_id, session_written.start + len(record.added))
                await session.record_turn(conn, turn, row, end, record.at)
        if session_written is not None and session_written is not written:
            return [written, session_written]
        return [written]
