"""Stores a finished turn: its input and output appended to the conversation's log, its chat row, and on
a session the session's new end, costs and released lease, all atomically.

The usual turn takes the shortest way its database offers (see `store.one_statement_turns` for
PostgreSQL, `store.sqlite_turns` for SQLite): a new conversation's chat is one INSERT; a continuing
turn at the tip of its log, with nothing changed meanwhile, needs no locking read. Anything else (a
fork, a deleted chat, a PATCH or a lost lease during the turn) is one transaction that reads the
session as it is then and handles every case.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from chatloom.domain.messages import Message
from chatloom.store import chats, message_logs, one_statement_turns, sessions, sqlite_turns
from chatloom.store.db import Database

if TYPE_CHECKING:
    from chatloom.engine.turn import PreparedTurn

Written = message_logs.Written


async def write_turn(
    db: Database, turn: PreparedTurn, chat: dict[str, Any], added: list[Message], now: datetime
) -> list[Written]:
    """Stores the turn; returns where its messages went (to seed this process's message cache)."""
    context = turn.context
    request = context.request
    org_id, session_id = request.org_id, request.session_id
    history, base = context.history, context.history_log
    if session_id is None and base == (None, 0):
        # A new conversation: its one chat holds its messages until a chat continues it.
        if db.raw is not None:
            await one_statement_turns.insert_first_chat(db.raw, org_id, turn.chat_id, chat, now)
            return []
        async with db.one_statement() as conn:
            driver = db.sqlite_driver(conn)
            if driver is not None:
                await sqlite_turns.insert_first_chat(driver, org_id, turn.chat_id, chat, now)
            else:
                await chats.insert_inline(conn, org_id, turn.chat_id, chat, now)
        return []
    if db.dialect == "postgresql":
        written = await _in_one_statement(db, turn, chat, added, now)
        if written is not None:
            return [written]
    elif turn.session_row is not None and turn.session_lease is not None and base[0] is not None:
        written = await _session_unlocked(db, turn, chat, added, now)
        if written is not None:
            return [written]
    log_id, end = base
    tip = None
    if db.dialect == "sqlite" and session_id is None and request.previous_chat_id and log_id is not None:
        tip = sqlite_turns.tip_append(
            org_id, turn.chat_id, chat, (log_id, end), added, now, request.previous_chat_id
        )
    # Every path's first statement writes (on SQLite, a session's lock is an UPDATE; a fresh chat's
    # INSERTs wait for the COMMIT): the driver begins the transaction with it, in its trip.
    async with db.write(starts_with_write=True) as conn:
        driver = db.sqlite_driver(conn)
        if tip is not None and driver is not None:
            written = await sqlite_turns.append_at_tip(driver, tip)
            if written is not None:
                return [written]
        session = None
        if session_id is not None and turn.session_lease is not None:
            session = await sessions.lock_for_turn(conn, org_id, session_id)
        if session is not None and sessions.log_of(session) == base:
            # The usual case: the session still ends where this turn read it, so both share the append.
            written = await message_logs.append(conn, org_id, base, history, added, now)
            session_written: Written | None = written
        else:
            written = await message_logs.append(
                conn,
                org_id,
                base,
                history,
                added,
                now,
                base_is_held=False,
                continues_chat=request.previous_chat_id,
            )
            session_written = None
            if session is not None:
                # The session's messages changed during the turn (replaced, or its lease ran out):
                # the turn goes after what it holds now, as before, and the chat keeps what it saw.
                session_base = sessions.log_of(session)
                session_written = await message_logs.append(conn, org_id, session_base, None, added, now)
        place = chats.place_after(written.log_id, written.start, len(added), len(chat["output"]))
        await chats.insert(conn, org_id, turn.chat_id, chat, place, now)
        if session is not None and session_written is not None and turn.session_lease is not None:
            session_end = (session_written.log_id, session_written.start + len(added))
            await sessions.append_turn(
                conn,
                session,
                turn.session_lease,
                session_end,
                chat["costs"],
                now,
                active=chat.get("activeAssistant"),
            )
    if session_written is not None and session_written is not written:
        return [written, session_written]
    return [written]


async def _session_unlocked(
    db: Database, turn: PreparedTurn, chat: dict[str, Any], added: list[Message], now: datetime
) -> Written | None:
    """SQLite: a session's usual turn (its lease held, the session unchanged since the lease took it)
    starts its transaction by recording the turn on the session, with no locking read before it;
    None (nothing written) when the session changed. Everything is prepared before the transaction."""
    request, (log_id, end) = turn.context.request, turn.context.history_log
    session, org_id = turn.session_row, request.org_id
    assert log_id is not None
    stored = sessions.unchanged_turn_values(
        org_id,
        session,
        str(turn.session_lease),
        (log_id, end + len(added)),
        chat["costs"],
        now,
        chat.get("activeAssistant"),
    )
    tip = sqlite_turns.tip_append(org_id, turn.chat_id, chat, (log_id, end), added, now)
    async with db.write(starts_with_write=True) as conn:
        driver = db.sqlite_driver(conn)
        if driver is None or not await sqlite_turns.store_session_turn(driver, stored):
            return None  # without the one-trip driver, or the session changed: the general way
        written = await sqlite_turns.append_at_tip(driver, tip)
        if written is not None:
            return written
        # The session row is written, so nothing can delete the log or this end of it meanwhile.
        written = await message_logs.append(
            conn, org_id, turn.context.history_log, turn.context.history, added, now
        )
        if written.log_id != log_id:  # the log went on past this end: the messages went to a fork
            await sessions.move_log(conn, session.id, (written.log_id, written.start + len(added)))
        place = chats.place_after(written.log_id, written.start, len(added), len(chat["output"]))
        await chats.insert(conn, org_id, turn.chat_id, chat, place, now)
    return written


async def _in_one_statement(
    db: Database, turn: PreparedTurn, chat: dict[str, Any], added: list[Message], now: datetime
) -> Written | None:
    """PostgreSQL: the usual continuing turn (at the tip of its log, nothing changed meanwhile) as
    one statement in autocommit; None when it is not the usual case (nothing was written)."""
    request = turn.context.request
    log_id, end = turn.context.history_log
    if log_id is None or db.raw is None:
        return None
    if request.session_id is not None:
        if turn.session_lease is None or turn.session_row is None:
            return None
        return await one_statement_turns.continue_session(
            db.raw,
            request.org_id,
            turn.chat_id,
            chat,
            turn.session_row,
            turn.session_lease,
            added,
            now,
            chat.get("activeAssistant"),
        )
    if request.previous_chat_id is None:
        return None
    return await one_statement_turns.continue_chain(
        db.raw, request.org_id, turn.chat_id, chat, (log_id, end), added, now, request.previous_chat_id
    )
