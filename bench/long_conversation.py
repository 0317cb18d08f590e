"""`python -m bench.long_conversation`: does a turn's cost stay flat as a conversation grows?

Drives one session and one `previousChatId` chain for `--turns` turns each (default 1000; input ~120
characters, the fake LLM's reply ~130), one turn at a time, against `chatloom serve` and the fake LLM on
loopback, on SQLite and PostgreSQL, each conversation in a fresh database. Per window of 100 turns it
reports the server's CPU per turn (read from /proc), the response size and the database's size on disk
(SQLite: the file and its WAL; PostgreSQL: `pg_total_relation_size` of the tables), next to ordinary
single-turn chats measured in the same server, interleaved with the conversation. Writes
bench/results/long_conversation.md (runs shorter than 1000 turns: long_conversation-quick.md).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import sqlite3
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bench.load import JSON_HEADERS, post_json
from bench.phases import log
from bench.processes import (
    PG_HOST,
    PG_PORT,
    PG_USER,
    BenchSetupError,
    Child,
    PostgresUnavailable,
    create_key,
    postgres_cpu_seconds,
    postgresql_database,
    server_environment,
    start_fake_llm,
    start_server,
)
from bench.scenarios import create_assistant
from bench.turns import run_async

WINDOW = 100
SLICE = 10
"""After every SLICE turns of the conversation the server answers SLICE single-turn chats: the machine is
shared and its speed drifts, so each window is compared with ordinary chats measured in between."""
SINGLE_TURNS = 200
WARM_UP_TURNS = 30
TABLES = ("chats", "sessions", "message_logs", "log_messages", "assistants", "orgs", "api_keys")


def user_input(turn: int) -> str:
    """About 120 characters, different every turn (the fake LLM answers `You said: <input>`)."""
    text = f"Turn {turn}: could you remind me what we planned for the garden this weekend, and who brings"
    return f"{text} the tools?".ljust(120, ".")


@dataclass
class Window:
    first: int
    last: int
    server_cpu_ms: float
    reference_cpu_ms: float
    database_cpu_ms: float | None
    response_bytes: float
    database_bytes: int
    database_growth: int
    text_bytes: int


@dataclass
class Conversation:
    backend: str
    kind: str
    single_turn_cpu_ms: float
    windows: list[Window] = field(default_factory=list)


def sqlite_bytes(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path, timeout=10)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path.stat().st_size


async def database_bytes(url: str) -> int:
    """The database's size on disk. On SQLite: the file once the write-ahead log is checkpointed into it
    (the server checkpoints too, but leaves the WAL file at its largest size, a few MB at most)."""
    if url.startswith("sqlite"):
        return sqlite_bytes(Path(url.split("///", 1)[1]))
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=url.rsplit("/", 1)[1])
    try:
        total = 0
        for table in TABLES:
            total += int(await conn.fetchval("SELECT pg_total_relation_size($1::regclass)", table))
        return total
    finally:
        await conn.close()


async def drive(
    args: argparse.Namespace, backend: str, kind: str, url: str, server: Child, base: str, key: str
) -> Conversation:
    headers = {"Authorization": f"Bearer {key}", **JSON_HEADERS}
    timeout = aiohttp.ClientTimeout(total=60)
    database_name = url.rsplit("/", 1)[1] if backend == "postgresql" else None

    def db_cpu() -> float:
        return postgres_cpu_seconds(database_name) if database_name else 0.0

    async with aiohttp.ClientSession(timeout=timeout) as http:
        assistant_id = await create_assistant(http, base, key)
        single = orjson.dumps({"assistantId": assistant_id, "input": user_input(0)})

        async def turn(body: bytes) -> tuple[dict[str, Any], int]:
            async with http.post(f"{base}/chat", data=body, headers=headers) as response:
                raw = await response.read()
                if response.status != 200:
                    raise BenchSetupError(f"POST /chat answered {response.status}: {raw[:300]!r}")
                return orjson.loads(raw), len(raw)

        async def single_turns(count: int) -> float:
            started = server.cpu_seconds()
            for _ in range(count):
                await turn(single)
            return (server.cpu_seconds() - started) * 1000 / count

        async def new_target() -> dict[str, Any]:
            if kind != "session":
                return {}
            created = await post_json(
                http, f"{base}/session", orjson.dumps({"assistantId": assistant_id}), headers, 201
            )
            return {"sessionId": created["id"]}

        async def warm_up() -> None:
            """A short conversation of the same kind first, so the measured one's first window pays no
            first-use costs (statements compiled once, code paths run once) that later ones do not."""
            target = await new_target()
            for index in range(WARM_UP_TURNS):
                if kind == "chain" and not target:
                    target = {"assistantId": assistant_id}
                chat, _ = await turn(orjson.dumps({**target, "input": user_input(index)}))
                if kind == "chain":
                    target = {"previousChatId": chat["id"]}

        await single_turns(SINGLE_TURNS // 4)  # warm-up
        await warm_up()
        size_before = await database_bytes(url)
        result = Conversation(backend, kind, await single_turns(SINGLE_TURNS))
        # What one single-turn chat adds to the database, to leave the interleaved ones out of its size.
        single_bytes = (await database_bytes(url) - size_before) / SINGLE_TURNS
        size_before = await database_bytes(url)

        target = await new_target()
        text_bytes = 0
        singles = 0  # single-turn chats run since the conversation started
        cpu = {"conversation": 0.0, "single": 0.0, "database": 0.0}
        response_bytes = 0
        for index in range(1, args.turns + 1):
            text = user_input(index)
            if kind == "chain" and not target:
                body = {"assistantId": assistant_id, "input": text}
            else:
                body = {**target, "input": text}
            if (index - 1) % SLICE == 0:  # each slice of turns is measured as a whole
                started = (server.cpu_seconds(), db_cpu())
            chat, size = await turn(orjson.dumps(body))
            if index % SLICE == 0 or index == args.turns:
                cpu["conversation"] += server.cpu_seconds() - started[0]
                cpu["database"] += db_cpu() - started[1]
            response_bytes += size
            text_bytes += len(text.encode()) + sum(
                len(str(message.get("content") or "").encode()) for message in chat["output"]
            )
            if kind == "chain":
                target = {"previousChatId": chat["id"]}
            if index % SLICE == 0:
                # The same number of single-turn chats after each slice of the conversation: both are
                # measured under the same load, whatever the machine's other work does meanwhile.
                started = (server.cpu_seconds(), db_cpu())
                for _ in range(SLICE):
                    await turn(single)
                cpu["single"] += server.cpu_seconds() - started[0]
                singles += SLICE
            if index % WINDOW == 0 or index == args.turns:
                count = (index - 1) % WINDOW + 1
                size = await database_bytes(url) - round(singles * single_bytes)
                single_count = max(1, count // SLICE * SLICE)
                result.windows.append(
                    Window(
                        index - count + 1,
                        index,
                        cpu["conversation"] * 1000 / count,
                        cpu["single"] * 1000 / single_count,
                        cpu["database"] * 1000 / count if database_name else None,
                        response_bytes / count,
                        size,
                        size - size_before,
                        text_bytes,
                    )
                )
                window = result.windows[-1]
                log(
                    f"{backend} {kind}: turns {window.first}-{window.last}: {window.server_cpu_ms:.2f} ms"
                    f" server CPU per turn, single-turn chats meanwhile {window.reference_cpu_ms:.2f} ms"
                )
                response_bytes = 0
                cpu = dict.fromkeys(cpu, 0.0)
    return result


@contextlib.contextmanager
def fresh_database(backend: str, workdir: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        return
    with postgresql_database() as (url, _version):
        yield url


def measure(args: argparse.Namespace) -> list[Conversation]:
    measured: list[Conversation] = []
    with tempfile.TemporaryDirectory(prefix="chatloom-long-") as tmp:
        fake, llm_base_url = start_fake_llm(Path(tmp))
        try:
            for backend in args.backends:
                for kind in ("session", "chain"):
                    workdir = Path(tempfile.mkdtemp(dir=tmp))
                    try:
                        with fresh_database(backend, workdir) as url:
                            env = server_environment(url, llm_base_url)
                            key = create_key(env)
                            server, base = start_server(env, workdir, f"chatloom-{backend}-{kind}")
                            conversation = functools.partial(
                                drive, args, backend, kind, url, server, base, key
                            )
                            try:
                                measured.append(run_async(conversation))
                            finally:
                                server.stop()
                    except PostgresUnavailable as error:
                        log(f"!! PostgreSQL skipped: {error}")
                        break
        finally:
            fake.stop()
    return measured


def ratio(window: Window) -> float:
    return window.server_cpu_ms / window.reference_cpu_ms


def render(args: argparse.Namespace, measured: list[Conversation], seconds: float) -> str:
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    lines = [
        "# Long conversations",
        "",
        f"{args.turns} turns per conversation, one at a time;"
        f" {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; `nproc` {os.cpu_count()};"
        f" load average at the end {load}; the run took {seconds:.0f} s.",
        "CPU is the `chatloom serve` process's (user + system, from /proc), per turn; PostgreSQL's own",
        f"backends are shown separately. After every {SLICE} turns of the conversation the server answers",
        f"{SLICE} ordinary single-turn chats (new conversations): their CPU per turn (`single meanwhile`) is",
        "measured under the same load as the window's, so `ratio` (window / single) does not move with the",
        "machine's speed, which drifts by tens of percent over minutes here.",
        "Database size: SQLite's file after a WAL checkpoint; PostgreSQL `pg_total_relation_size` of the",
        "tables; without what the single-turn chats added (their size measured on the",
        f"{SINGLE_TURNS} run before the conversation).",
        "",
    ]
    for conversation in measured:
        first, last = conversation.windows[0], conversation.windows[-1]
        lines += [
            f"## {conversation.backend}, {conversation.kind}",
            "",
            f"{SINGLE_TURNS} single-turn chats before the conversation: {conversation.single_turn_cpu_ms:.2f}"
            " ms of server CPU per turn.",
            f"**Last window / first window: {ratio(last) / ratio(first):.2f}x** (each against the single-turn"
            f" chats measured with it; raw: {last.server_cpu_ms / first.server_cpu_ms:.2f}x);"
            f" **first window / single-turn chat: {ratio(first):.2f}x** (against the chats before the"
            f" conversation: {first.server_cpu_ms / conversation.single_turn_cpu_ms:.2f}x);"
            f" **database / text: {last.database_growth / max(last.text_bytes, 1):.1f}x** (its growth"
            " during the conversation).",
            "",
            "| turns | server CPU ms/turn | single meanwhile | ratio | database CPU ms/turn | response bytes"
            " | database bytes | growth | text |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for window in conversation.windows:
            database_cpu = f"{window.database_cpu_ms:.2f}" if window.database_cpu_ms is not None else "-"
            lines.append(
                f"| {window.first}-{window.last} | {window.server_cpu_ms:.2f} |"
                f" {window.reference_cpu_ms:.2f} | {ratio(window):.2f} | {database_cpu} |"
                f" {window.response_bytes:,.0f} | {window.database_bytes:,} | {window.database_growth:,} |"
                f" {window.text_bytes:,} |"
            )
        lines.append("")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.long_conversation", description=__doc__)
    parser.add_argument("--turns", type=int, default=1000, help="turns per conversation (default 1000)")
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated: sqlite,postgresql")
    parser.add_argument("--output", type=Path, default=None, help="where the Markdown report goes")
    args = parser.parse_args(argv)
    if args.turns < 1:
        parser.error("--turns must be at least 1")
    args.backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    if args.output is None:
        name = "long_conversation.md" if args.turns >= 1000 else "long_conversation-quick.md"
        args.output = Path("bench/results") / name
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.monotonic()
    try:
        measured = measure(args)
    except BenchSetupError as error:
        log(f"bench.long_conversation: {error}")
        raise SystemExit(1) from None
    report = render(args, measured, time.monotonic() - started)
    print(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report)
    log(f"written to {args.output}")


if __name__ == "__main__":
    main()
