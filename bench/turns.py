"""`python -m bench.turns`: the server's own cost per chat turn (CPU and latency, LLM excluded).

Runs the fake LLM and `chatloom serve` as processes on loopback, drives non-streamed, streamed and chained
turns through `/chat`, the non-streamed and streamed ones through `/chat/responses` too, and session turns
through `/chat` and `/chat/web` (public key), with aiohttp on
SQLite and PostgreSQL, reads CPU from /proc, and compares with the fake LLM measured alone in the same run.
Prints a Markdown report and writes it to bench/results/turns.md (`--quick`: a smaller run, written to
bench/results/turns-quick.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from bench.measurements import Run
from bench.options import parse_args
from bench.phases import log, measure_backend, measure_baseline
from bench.processes import (
    BenchSetupError,
    Child,
    PostgresUnavailable,
    create_key,
    postgresql_database,
    server_environment,
    start_fake_llm,
    start_server,
)
from bench.report import render
from bench.scenarios import WEB_ORIGIN

T = TypeVar("T")


def run_async(coroutine: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Runs a coroutine on uvloop when installed (a cheaper client), else on asyncio's loop."""
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    with contextlib.suppress(ImportError):
        import uvloop

        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(coroutine())


@contextlib.contextmanager
def database(backend: str, workdir: Path, run: Run) -> Iterator[str]:
    """A fresh database for `backend` (a file in `workdir`, or a throwaway PostgreSQL one): its URL."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        return
    with postgresql_database() as (url, version):
        run.versions["PostgreSQL"] = version
        yield url


def bench_backend(args: argparse.Namespace, backend: str, fake: Child, llm_base_url: str, run: Run) -> None:
    """Measures one backend with its own database, key and server, adding its rows to `run`."""
    with tempfile.TemporaryDirectory(prefix=f"chatloom-bench-{backend}-") as tmp:
        workdir = Path(tmp)
        with database(backend, workdir, run) as url:
            env = server_environment(url, llm_base_url)
            key = create_key(env)
            public_key = create_key(env, "--public", "--origin", WEB_ORIGIN)
            server, server_url = start_server(env, workdir, f"chatloom-{backend}")
            try:
                log(f"{backend}: chatloom serve pid {server.pid} at {server_url}")
                database_name = url.rsplit("/", 1)[1] if backend == "postgresql" else None
                rows, first = run_async(
                    lambda: measure_backend(
                        args, backend, server, server_url, key, public_key, fake, llm_base_url, database_name
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
    """The baseline, then each backend, against one fake LLM process."""
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
    """Runs the benchmark, prints the report and writes it to `--output`."""
    args = parse_args(argv, __doc__)
    run = Run(args.turns, args.concurrency, args.warmup, args.first_token_turns, quick=args.quick)
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
