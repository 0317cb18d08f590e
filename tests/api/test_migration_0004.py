"""Migration 0004 moves chats and sessions into message logs and loses nothing.

A database is built at revision 0003 with rows written exactly as the code of that revision wrote them
(chains, forks, sessions, replaced histories, odd contents), upgraded, and then every chat and session
must read back through the API as the same JSON bytes, and go on working.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import create_async_engine

from chatloom.config import Settings
from chatloom.store.db import alembic_config
from chatloom.store.tables import UTCDateTime
from chatloom.testing.fake_llm import FakeLLM, FakeReply
from tests.conftest import provider_environment
from tests.support.client import Api
from tests.support.databases import postgresql_url, sqlite_url
from tests.support.server import ServerThread

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
ORG = "00000000-0000-4000-8000-000000000001"
ASSISTANT = "00000000-0000-4000-8000-0000000000a1"

orgs_0003 = sa.table("orgs", sa.column("id"), sa.column("name"), sa.column("created_at", UTCDateTime()))
assistants_0003 = sa.table(
    "assistants",
    *(sa.column(name) for name in ("id", "org_id", "name", "body")),
    sa.column("created_at", UTCDateTime()),
    sa.column("updated_at", UTCDateTime()),
)
chats_0003 = sa.table(
    "chats",
    *(
        sa.column(name)
        for name in ("id", "org_id", "assistant_id", "squad_id", "session_id", "previous_chat_id")
    ),
    *(sa.column(name) for name in ("name", "cost", "body")),
    sa.column("created_at", UTCDateTime()),
    sa.column("updated_at", UTCDateTime()),
)
sessions_0003 = sa.table(
    "sessions",
    *(sa.column(name) for name in ("id", "org_id", "assistant_id", "squad_id", "name", "status", "cost")),
    *(sa.column(name) for name in ("body", "prompt", "lease_owner")),
    sa.column("expires_at", UTCDateTime()),
    sa.column("lease_until", UTCDateTime()),
    sa.column("created_at", UTCDateTime()),
    sa.column("updated_at", UTCDateTime()),
)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def reply(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": text}


def cost(value: float) -> dict[str, Any]:
    return {
        "type": "model",
        "model": {"provider": "openai", "model": "gpt-4o-mini"},
        "promptTokens": 10,
        "completionTokens": 3,
        "cachedPromptTokens": 0,
        "cost": value,
    }


class OldDatabase:
    """Rows as revision 0003's code wrote them, and the API documents it served for them."""

    def __init__(self) -> None:
        self.chats: list[dict[str, Any]] = []
        self.sessions: list[dict[str, Any]] = []
        self.expected: dict[str, bytes] = {}
        self.clock = T0
        self.handmade = 0

    def tick(self, same: bool = False) -> datetime:
        if not same:
            self.clock += timedelta(milliseconds=7)
        return self.clock

    def chat(
        self,
        history: list[dict[str, Any]],
        raw_input: Any,
        output: list[dict[str, Any]],
        *,
        previous: str | None = None,
        session: str | None = None,
        extra: dict[str, Any] | None = None,
        same_time: bool = False,
    ) -> tuple[str, list[dict[str, Any]]]:
        """A chat as engine/turn.py `_store` built it; returns its id and its messages + output."""
        chat_id, now = str(uuid.uuid4()), self.tick(same_time)
        new_input = [user(raw_input)] if isinstance(raw_input, str) else raw_input
        document: dict[str, Any] = {"id": chat_id, "orgId": ORG}
        document.update(extra or {"assistantId": ASSISTANT})
        if session is not None:
            document["sessionId"] = session
        if previous is not None:
            document["previousChatId"] = previous
        document["input"] = raw_input
        document["messages"] = [*history, *new_input]
        document["output"] = output
        document["costs"] = [cost(0.25)]
        document["cost"] = 0.25
        body = {k: v for k, v in document.items() if k not in ("id", "orgId", "createdAt", "updatedAt")}
        self.chats.append(
            {
                "id": chat_id,
                "org_id": ORG,
                "assistant_id": document.get("assistantId"),
                "squad_id": None,
                "session_id": session,
                "previous_chat_id": previous,
                "name": document.get("name"),
                "cost": 0.25,
                "body": orjson.dumps(body).decode(),
                "created_at": now,
                "updated_at": now,
            }
        )
        self.expected[f"/chat/{chat_id}"] = orjson.dumps(
            {"id": chat_id, "orgId": ORG, **body, "createdAt": iso(now), "updatedAt": iso(now)}
        )
        return chat_id, [*history, *new_input, *output]

    def session(self, messages: list[dict[str, Any]], turns: int, fields: dict[str, Any]) -> str:
        """A session as engine/sessions.py created it, then `turns` turns appended as store/sessions.py
        `append_turn` did (each a chat too)."""
        session_id, created = str(uuid.uuid4()), self.tick()
        document: dict[str, Any] = {
            "status": "active",
            "expirationSeconds": 86400,
            "assistantId": ASSISTANT,
            **fields,
        }
        document.setdefault("messages", messages)
        document.update(cost=0.0, costs=[])
        document.pop("status")
        updated = created
        for turn in range(turns):
            _, seen = self.chat(
                document["messages"], f"turn {turn}", [reply(f"answer {turn}")], session=session_id
            )
            document["messages"] = seen
            document["costs"] = [cost(0.25 * (turn + 1))] if turn else [cost(0.25)]
            document["cost"] = document["cost"] + 0.25
            updated = self.clock
        expires = updated + timedelta(days=1)
        self.sessions.append(
            {
                "id": session_id,
                "org_id": ORG,
                "assistant_id": ASSISTANT,
                "squad_id": None,
                "name": document.get("name"),
                "status": "active",
                "cost": document["cost"],
                "body": orjson.dumps(document).decode(),
                "prompt": "[]",
                "lease_owner": None,
                "lease_until": None,
                "expires_at": expires,
                "created_at": created,
                "updated_at": updated,
            }
        )
        self.expected[f"/session/{session_id}"] = orjson.dumps(
            {
                "id": session_id,
                "orgId": ORG,
                **document,
                "createdAt": iso(created),
                "updatedAt": iso(updated),
                "status": "active",
            }
        )
        return session_id


def build_history(old: OldDatabase) -> dict[str, str]:
    """Chains, forks, sessions and odd cases; returns a few ids the test continues from."""
    a, seen_a = old.chat([], "hello", [reply("hi ✓ 🙂")])
    b, seen_b = old.chat(seen_a, "more", [reply("sure")], previous=a)
    c, seen_c = old.chat(seen_b, [user("and"), user("more")], [reply("ok")], previous=b)
    fork, _ = old.chat(seen_a, "instead", [reply("branch")], previous=a, same_time=True)
    tool_call = {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": 1}'}}
    tools, seen_tools = old.chat(
        seen_c,
        "use a tool",
        [{"role": "assistant", "content": None, "tool_calls": [tool_call]}],
        previous=c,
        extra={
            "assistant": {"model": {"provider": "openai", "model": "gpt-4o-mini"}, "name": "inline"},
            "assistantOverrides": {"variableValues": {"x": 1.5}},
            "name": "with tools",
        },
    )
    old.chat(seen_tools, [{"role": "tool", "tool_call_id": "call_1", "content": "42"}], [], previous=tools)
    # A chain whose stored history does not match its previous chat (written by hand), and one whose
    # previous chat was deleted: both keep exactly what they had.
    old.chat([user("rewritten")], "odd", [reply("fine")], previous=b)
    old.chat(seen_b, "orphan", [reply("alone")], previous=str(uuid.uuid4()))
    session = old.session([user("context")], 3, {"name": "support", "customer": {"name": "Lin"}})
    patched = old.session([], 2, {})
    # A PATCH replaced this one's messages after its turns: they no longer match its last chat.
    old.sessions[-1]["body"] = old.sessions[-1]["body"].replace('"turn 1"', '"edited"')
    old.expected[f"/session/{patched}"] = old.expected[f"/session/{patched}"].replace(
        b'"turn 1"', b'"edited"', 1
    )
    old.session([], 0, {"expirationSeconds": 600})
    old.handmade = len(old.expected)
    for index in range(520):  # more than one batch of the migration
        old.chat([], f"bulk {index}", [reply(str(index))], same_time=index % 3 != 0)
    return {"chain_end": c, "fork": fork, "session": session}


async def write_rows(url: str, old: OldDatabase) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.insert(orgs_0003), [{"id": ORG, "name": "migrated", "created_at": T0}])
            model = {"model": {"provider": "openai", "model": "gpt-4o-mini"}}
            assistant = {"id": ASSISTANT, "org_id": ORG, "name": None, "body": orjson.dumps(model).decode()}
            await conn.execute(
                sa.insert(assistants_0003), [{**assistant, "created_at": T0, "updated_at": T0}]
            )
            await conn.execute(sa.insert(chats_0003), old.chats)
            await conn.execute(sa.insert(sessions_0003), old.sessions)
    finally:
        await engine.dispose()


async def count_rows(url: str) -> int:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(sa.text("SELECT count(*) FROM log_messages"))).scalar_one())
    finally:
        await engine.dispose()


def database(backend: str, tmp_path: Path) -> AbstractContextManager[str]:
    if backend == "sqlite":
        return sqlite_url(tmp_path)
    return postgresql_url()


@pytest.fixture(params=["sqlite", "postgresql"])
def old_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    try:
        context = database(request.param, tmp_path)
        url = context.__enter__()
    except RuntimeError as error:
        pytest.skip(f"PostgreSQL leg skipped: {error}")
    try:
        yield url
    finally:
        context.__exit__(None, None, None)


def test_0004_moves_every_chat_and_session_unchanged(old_url: str, fake_llm: FakeLLM) -> None:
    command.upgrade(alembic_config(old_url), "0003")
    old = OldDatabase()
    ids = build_history(old)
    asyncio.run(write_rows(old_url, old))

    command.upgrade(alembic_config(old_url), "head")
    # Chains and sessions share their logs: 36 messages of hand-made history, 1,040 of single chats.
    assert asyncio.run(count_rows(old_url)) == 36 + 1040
    settings = Settings(
        database_url=old_url, provider_env=provider_environment(fake_llm), llm_timeout_seconds=5
    )
    server = ServerThread(settings).start()
    api = Api(server.url, server.create_key("migrated"))
    try:
        for path, expected in old.expected.items():
            response = api.get(path)
            assert response.status_code == 200, path
            assert response.content == expected, path
        listed = api.get("/chat", params={"limit": 100, "sortBy": "createdAt"}).json()["results"]
        for chat in listed:
            assert orjson.dumps(chat) == old.expected[f"/chat/{chat['id']}"]
        for session in api.get("/session").json()["results"]:
            assert orjson.dumps(session) == old.expected[f"/session/{session['id']}"]

        fake_llm.push(FakeReply(text="next"), FakeReply(text="forked"), FakeReply(text="in session"))
        chain_end = api.get(f"/chat/{ids['chain_end']}").json()
        after = api.chat(previousChatId=ids["chain_end"], input="go on")
        assert after["messages"] == [*chain_end["messages"], *chain_end["output"], user("go on")]
        fork = api.get(f"/chat/{ids['fork']}").json()
        again = api.chat(previousChatId=ids["fork"], input="and the fork")
        assert again["messages"] == [*fork["messages"], *fork["output"], user("and the fork")]
        before = api.get(f"/session/{ids['session']}").json()
        turn = api.chat(sessionId=ids["session"], input="still there?")
        assert turn["messages"] == [*before["messages"], user("still there?")]
        assert api.get(f"/session/{ids['session']}").json()["messages"] == [
            *before["messages"],
            user("still there?"),
            reply("in session"),
        ]
        for path, expected in list(old.expected.items())[: old.handmade]:
            if path != f"/session/{ids['session']}":  # the one that just had a turn
                assert api.get(path).content == expected, path
    finally:
        api.close()
        server.stop()
