"""The differential test of the turn writer: every scenario is played twice through the engine, once with
the fast statements (asyncpg on PostgreSQL, the one-trip driver on SQLite) and once the portable way only,
each in an org of its own, and every row either way wrote must be the same (ids and times aside)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import select, update

from chatloom.domain.events import TurnFailed
from chatloom.domain.ids import utc_now
from chatloom.providers.base import ModelRequest
from chatloom.store import leases
from chatloom.store.db import Database
from chatloom.store.tables import chats, log_messages, message_logs, sessions
from tests.support.engine_world import OPENAI, World, reply, run, world

TIMES = frozenset(("created_at", "updated_at", "expires_at", "lease_until", "lease_owner"))
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z?")


async def new_chat(w: World, assistant_id: str) -> None:
    await w.chat(assistant_id=assistant_id, input="one")


async def chain(w: World, assistant_id: str) -> None:
    chat = await w.chat(assistant_id=assistant_id, input="one")
    for text in ("two", "three"):
        chat = await w.chat(previous_chat_id=chat["id"], input=text)


async def session_turns(w: World, assistant_id: str) -> None:
    session = await w.services.sessions.create(w.org_id, {"assistantId": assistant_id})
    for text in ("one", "two", "three"):
        await w.chat(session_id=session["id"], input=text)


async def fork(w: World, assistant_id: str) -> None:
    first = await w.chat(assistant_id=assistant_id, input="one")
    await w.chat(previous_chat_id=first["id"], input="two")
    forked = await w.chat(previous_chat_id=first["id"], input="two, again")  # not the log's tip
    await w.chat(previous_chat_id=forked["id"], input="three")


async def patch_during_a_turn(w: World, assistant_id: str) -> None:
    session = await w.services.sessions.create(w.org_id, {"assistantId": assistant_id})
    await w.chat(session_id=session["id"], input="one")

    async def patched(request: ModelRequest) -> Any:
        messages = [{"role": "user", "content": "replaced"}, {"role": "assistant", "content": "ok"}]
        await w.services.sessions.update(w.org_id, session["id"], {"messages": messages})
        return reply("after the patch")

    w.provider.push(patched)
    await w.chat(session_id=session["id"], input="two")
    await w.chat(session_id=session["id"], input="three")


async def lost_lease(w: World, assistant_id: str) -> None:
    session = await w.services.sessions.create(w.org_id, {"assistantId": assistant_id})
    await w.chat(session_id=session["id"], input="one")

    async def taken_over(request: ModelRequest) -> Any:
        async with w.db.write() as conn:
            await conn.execute(
                update(sessions).where(sessions.c.id == session["id"]).values(lease_until=utc_now())
            )
        # Another turn takes the session, and lets it go at once.
        state, _ = await leases.try_lease(w.db, w.org_id, session["id"], "other", utc_now(), utc_now())
        assert state == "acquired"
        return reply("too late")

    w.provider.push(taken_over)
    _, last = await w.turn(session_id=session["id"], input="two")
    assert isinstance(last, TurnFailed)
    await w.chat(session_id=session["id"], input="three")


async def deleted_continued_chat(w: World, assistant_id: str) -> None:
    first = await w.chat(assistant_id=assistant_id, input="one")
    second = await w.chat(previous_chat_id=first["id"], input="two")

    async def deleted(request: ModelRequest) -> Any:
        await w.services.chats.delete(w.org_id, second["id"])
        return reply("still here")

    w.provider.push(deleted)
    third = await w.chat(previous_chat_id=second["id"], input="three")
    await w.chat(previous_chat_id=third["id"], input="four")


SCENARIOS: dict[str, Callable[[World, str], Awaitable[None]]] = {
    "new chat": new_chat,
    "chain": chain,
    "session": session_turns,
    "fork": fork,
    "PATCH during a turn": patch_during_a_turn,
    "lost lease": lost_lease,
    "deleted continued chat": deleted_continued_chat,
}


async def rows(db: Database, org_id: str) -> list[tuple[str, dict[str, Any]]]:
    """Every row of the org's chats, sessions, logs and log messages, in creation order, times left out."""
    found: list[tuple[str, dict[str, Any]]] = []
    async with db.read() as conn:
        logs = (
            await conn.execute(
                select(message_logs).where(message_logs.c.org_id == org_id).order_by(message_logs.c.id)
            )
        ).all()
        for table in (chats, sessions):
            result = await conn.execute(select(table).where(table.c.org_id == org_id).order_by(table.c.id))
            found += [(table.name, dict(row._mapping)) for row in result.all()]
        found += [("message_logs", dict(row._mapping)) for row in logs]
        for log in logs:
            result = await conn.execute(
                select(log_messages).where(log_messages.c.log_id == log.id).order_by(log_messages.c.seq)
            )
            found += [("log_messages", dict(row._mapping)) for row in result.all()]
    return found


def normalized(found: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """Ids become their order of first appearance; times, lease owners and the org go."""
    names: dict[str, str] = {}

    def name(match: re.Match[str]) -> str:
        return names.setdefault(match.group(0), f"<id {len(names)}>")

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            return ISO.sub("<time>", UUID.sub(name, value))
        return round(value, 9) if isinstance(value, float) else value

    return [
        (table, {column: clean(value) for column, value in row.items() if column not in TIMES})
        for table, row in found
    ]


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_the_fast_and_the_portable_way_write_the_same_rows(backend: str, scenario: str) -> None:
    async def play() -> None:
        written = []
        for fast in (True, False):
            async with world(backend, fast=fast) as w:
                assistant = await w.assistant(name="Writer", model={**OPENAI, "messages": []})
                await SCENARIOS[scenario](w, assistant["id"])
                written.append(normalized(await rows(w.db, w.org_id)))
        fast_rows, portable_rows = written
        assert [table for table, _ in fast_rows] == [table for table, _ in portable_rows]
        for (table, fast_row), (_, portable_row) in zip(fast_rows, portable_rows, strict=True):
            assert fast_row == portable_row, table

    run(backend, play)
