"""`python -m bench.turns`: the server's own cost per chat turn (CPU and latency, LLM excluded).

Runs the fake LLM and `chatloom serve` as processes on loopback, drives non-streamed, streamed and chained
turns with aiohttp on SQLite and PostgreSQL, reads CPU from /proc, and compares with the fake LLM measured
alone in the same run. Prints a Markdown table and writes it to bench/results/turns.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from bench.load import CpuMeter, RequestFailed, client_cpu_seconds, run_phase
from bench.processes import (
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
from bench.report import FirstTokens, Row, Run, render
from bench.scenarios import DirectTurns, ServerTurns, create_assistant

RESULTS = Path(__file__).resolve().parent / "results" / "turns.md"
BACKENDS = ("sqlite", "postgresql")
PHASE_TIME_LIMIT_SECONDS = 60.0
T = TypeVar("T")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.turns", description=__doc__)
    parser.add_argument("--turns", type=int, default=2000, help="measured turns per scenario (default 2000)")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--warmup", type=int, default=200, help="unmeasured turns before each scenario")
    parser.add_argument(
        "--first-token-turns", type=int, default=300, help="streamed turns at concurrency 1 (default 300)"
    )
    parser.add_argument(
        "--backends", default=",".join(BACKENDS), help="comma-separated: sqlite,postgresql (default both)"
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"Markdown file (default {RESULTS})")
    args = parser.parse_args(argv)
    args.backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    unknown = set(args.backends) - set(BACKENDS)
    if unknown or not args.backends:
        parser.error(f"--backends takes a comma-separated subset of {','.join(BACKENDS)}")
    if args.turns < 1 or args.concurrency < 1 or args.warmup < 0 or args.first_token_turns < 0:
        parser.error("--turns and --concurrency must be >= 1; --warmup and --first-token-turns >= 0")
    return args


def run_async(coroutine: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Runs a coroutine on uvloop when installed (a cheaper client), else on asyncio's loop."""
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    with contextlib.suppress(ImportError):
        import uvloop

        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(coroutine())


def client_session(concurrency: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=concurrency * 2)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60))


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def measure_baseline(args: argparse.Namespace, fake: Child, llm_base_url: str) -> list[Row]:
    """The fake LLM alone, at the same concurrency: what the LLM side costs without chatloom."""
    direct = DirectTurns(llm_base_url)
    meters: dict[str, CpuMeter] = {"fake LLM": fake.cpu_seconds, "client": client_cpu_seconds}
    rows = []
    async with client_session(args.concurrency) as session:
        for scenario, request in (("non-streamed", direct.non_streamed), ("streamed", direct.streamed)):
            log(f"baseline: fake LLM direct, {scenario}")
            await run_phase(session, request, args.warmup, args.concurrency, {}, PHASE_TIME_LIMIT_SECONDS)
            result = await run_phase(
                session, request, args.turns, args.concurrency, meters, PHASE_TIME_LIMIT_SECONDS
            )
            rows.append(Row("fake LLM direct (baseline)", scenario, result))
    return rows


async def first_token_pairs(
    session: aiohttp.ClientSession, backend: str, turns: ServerTurns, direct: DirectTurns, count: int
) -> FirstTokens:
    """Time to the first `data:` frame, one request at a time, alternating direct and through chatloom."""
    measured = FirstTokens(backend, [], [])
    deadline = time.perf_counter() + PHASE_TIME_LIMIT_SECONDS
    for index in range(count + min(20, count)):
        if time.perf_counter() > deadline:
            log(f"  {backend}: the first-token phase hit its time limit")
            break
        try:
            sent = time.perf_counter()
            direct_first = await direct.streamed(session, 0) - sent
            sent = time.perf_counter()
            server_first = await turns.streamed(session, 0) - sent
        except (RequestFailed, aiohttp.ClientError, OSError, TimeoutError) as error:
            measured.errors += 1
            log(f"  first-token request failed: {error}")
            continue
        if index >= min(20, count):  # the first pairs warm both paths up
            measured.direct.append(direct_first)
            measured.server.append(server_first)
    return measured


async def measure_backend(
    args: argparse.Namespace,
    backend: str,
    server: Child,
    url: str,
    key: str,
    fake: Child,
    llm_base_url: str,
    database_name: str | None,
) -> tuple[list[Row], FirstTokens]:
    """The three scenarios and the first-token pairs against one running server."""
    meters: dict[str, CpuMeter] = {
        "server": server.cpu_seconds,
        "fake LLM": fake.cpu_seconds,
        "client": client_cpu_seconds,
    }
    if database_name is not None:
        meters["postgresql"] = lambda: postgres_cpu_seconds(database_name)
    rows = []
    async with client_session(args.concurrency) as session:
        turns = ServerTurns(url, key, await create_assistant(session, url, key))
        scenarios = (
            ("non-streamed", turns.non_streamed),
            ("streamed", turns.streamed),
            ("chained (previousChatId, ≤20 turns)", turns.chained),
        )
        for scenario, request in scenarios:
            log(f"{backend}: {scenario}")
            await run_phase(session, request, args.warmup, args.concurrency, {}, PHASE_TIME_LIMIT_SECONDS)
            turns.reset_chains()
            result = await run_phase(
                session, request, args.turns, args.concurrency, meters, PHASE_TIME_LIMIT_SECONDS
            )
            if result.first_error:
                log(f"  {result.errors} failed turns; the first: {result.first_error}")
            rows.append(Row(backend, scenario, result))
        log(f"{backend}: time to first token")
        first = await first_token_pairs(
            session, backend, turns, DirectTurns(llm_base_url), args.first_token_turns
        )
    return rows, first


@contextlib.contextmanager
def database(backend: str, workdir: Path, run: Run) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        return
    with postgresql_database() as (url, version):
        run.versions["PostgreSQL"] = version
        yield url


def bench_backend(args: argparse.Namespace, backend: str, fake: Child, llm_base_url: str, run: Run) -> None:
    with tempfile.TemporaryDirectory(prefix=f"chatloom-bench-{backend}-") as tmp:
        workdir = Path(tmp)
        with database(backend, workdir, run) as url:
            env = server_environment(url, llm_base_url)
            key = create_key(env)
            server, server_url = start_server(env, workdir, f"chatloom-{backend}")
            try:
                log(f"{backend}: chatloom serve pid {server.pid} at {server_url}")
                database_name = url.rsplit("/", 1)[1] if backend == "postgresql" else None
                rows, first = run_async(
                    lambda: measure_backend(
                        args, backend, server, server_url, key, fake, llm_base_url, database_name
                    )
                )
            finally:
                server.stop()
            if server.process.returncode not in (0, -15):
                run.notes.append(f"{backend}: the server exited with {server.process.returncode}")
            if any(row.result.errors for row in rows) or first.errors:
                log(f"{backend}: the server's log ends with:\n{server.log_tail()}")
            run.rows += rows
            run.first_tokens.append(first)


def measure(args: argparse.Namespace, run: Run) -> None:
    with tempfile.TemporaryDirectory(prefix="chatloom-bench-") as tmp:
        fake, llm_base_url = start_fake_llm(Path(tmp))
        try:
            log(f"fake LLM pid {fake.pid} at {llm_base_url}")
            run.rows += run_async(lambda: measure_baseline(args, fake, llm_base_url))
            for backend in args.backends:
                try:
                    bench_backend(args, backend, fake, llm_base_url, run)
                except PostgresUnavailable as error:
                    reason = f"PostgreSQL skipped: {error}"
                    log(f"!! {reason}")
                    run.skipped.append(reason)
        finally:
            fake.stop()


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    run = Run(args.turns, args.concurrency, args.warmup, args.first_token_turns)
    started = time.monotonic()
    try:
        measure(args, run)
    except BenchSetupError as error:
        log(f"bench.turns: {error}")
        raise SystemExit(1) from None
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    run.notes.append(f"the whole run took {time.monotonic() - started:.0f} s; load average at the end {load}")
    report = render(run)
    print(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report)
    log(f"written to {args.output}")


if __name__ == "__main__":
    main()
