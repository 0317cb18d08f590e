"""`python -m bench.compare`: the server's CPU per turn of two (or more) source trees, measured side by side.

A machine's speed drifts by more than a change costs (a quick `bench.turns` run moves by ±0.3 ms between
repeats on a shared 2-core machine). Here each tree runs its own `chatloom serve` (its own database) at
the same time against one fake LLM, and the load alternates between them in short slices (A B, B A, ...),
so whatever the machine does meanwhile falls on both alike. Each tree is a checkout's root (its `src/`
goes first on PYTHONPATH; a `git worktree add /tmp/before <commit>` makes one), optionally followed by
`|NAME=VALUE` environment settings of its own, e.g. `.|CHATLOOM_METRICS=false` to measure the metrics.

    .venv/bin/python -m bench.compare --trees /tmp/before,. --scenario non-streamed --backend sqlite

Prints a Markdown table: CPU per turn over all slices, the median slice, turns, and the difference from
the first tree.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.processes import (
    BenchSetupError,
    Child,
    create_key,
    migrate,
    postgresql_database,
    server_environment,
    start_fake_llm,
    start_server,
)
from bench.scenarios import (
    ServerTurns,
    SessionEnds,
    SessionTurns,
    create_assistant,
    create_assistant_with_outputs,
)

SCENARIOS = ("non-streamed", "streamed", "chained", "session", "complete", "complete-outputs")
"""`complete`: a session created and completed (`POST /session`, `PATCH` status completed);
`complete-outputs`: the same with an assistant that has a structured output (run with `|CHATLOOM_JOBS=false`
on a tree to measure the requests without the extraction that follows them)."""
Turn = Callable[[aiohttp.ClientSession, int], Awaitable[object]]


@dataclass
class Tree:
    spec: str
    root: Path
    env: dict[str, str]
    server: Child | None = None
    url: str = ""
    key: str = ""
    slices: list[tuple[float, int]] = field(default_factory=list)

    @classmethod
    def parse(cls, spec: str) -> Tree:
        root, *settings = spec.split("|")
        env = dict(setting.split("=", 1) for setting in settings)
        return cls(spec, Path(root).resolve(), env)

    def cpu_ms_per_turn(self) -> float:
        turns = sum(count for _, count in self.slices)
        return 1000 * sum(cpu for cpu, _ in self.slices) / max(turns, 1)

    def median_slice_ms(self) -> float:
        return statistics.median(1000 * cpu / max(count, 1) for cpu, count in self.slices)


@contextmanager
def database(backend: str, workdir: Path, index: int) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{workdir / f'compare-{index}.db'}"
        return
    with postgresql_database() as (url, _version):
        yield url


def start(tree: Tree, url: str, llm_base_url: str, workdir: Path, index: int) -> None:
    env = server_environment(url, llm_base_url)
    env.update(tree.env)
    env["PYTHONPATH"] = str(tree.root / "src")
    migrate(env)
    tree.key = create_key(env)
    tree.server, tree.url = start_server(env, workdir, f"server-{index}")


async def measure(trees: list[Tree], scenario: str, slices: int, seconds: float, concurrency: int) -> None:
    async with aiohttp.ClientSession() as http:
        turns: list[Turn] = []
        for tree in trees:
            if scenario == "complete-outputs":
                assistant_id = await create_assistant_with_outputs(http, tree.url, tree.key)
            else:
                assistant_id = await create_assistant(http, tree.url, tree.key)
            plain = ServerTurns(tree.url, tree.key, assistant_id)
            sessions = SessionTurns(tree.url, tree.key, assistant_id)
            ends = SessionEnds(tree.url, tree.key, assistant_id)
            turns.append(
                {
                    "non-streamed": plain.non_streamed,
                    "streamed": plain.streamed,
                    "chained": plain.chained,
                    "session": sessions.turn,
                    "complete": ends.create_and_complete,
                    "complete-outputs": ends.create_and_complete,
                }[scenario]
            )

        for turn in turns:
            await load(http, turn, 2.0, concurrency)  # warm-up
        for index in range(slices):
            order = range(len(trees)) if index % 2 == 0 else reversed(range(len(trees)))
            for position in order:
                tree, server = trees[position], trees[position].server
                assert server is not None
                before = server.cpu_seconds()
                count = await load(http, turns[position], seconds, concurrency)
                tree.slices.append((server.cpu_seconds() - before, count))


async def load(http: aiohttp.ClientSession, turn: Turn, duration: float, concurrency: int) -> int:
    """`concurrency` clients making `turn` back to back for `duration` seconds; returns the turns made."""
    ends = time.monotonic() + duration

    async def client(worker: int) -> int:
        done = 0
        while time.monotonic() < ends:
            await turn(http, worker)
            done += 1
        return done

    return sum(await asyncio.gather(*(client(worker) for worker in range(concurrency))))


def report(trees: list[Tree], args: argparse.Namespace) -> str:
    lines = [
        f"`bench.compare` — {args.scenario}, {args.backend}, {args.slices} slices of {args.seconds:g} s "
        f"per tree, {args.concurrency} clients; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        "| tree | server CPU ms/turn | median slice | turns | vs first |",
        "|---|--:|--:|--:|--:|",
    ]
    first = trees[0].cpu_ms_per_turn()
    for tree in trees:
        value = tree.cpu_ms_per_turn()
        turns = sum(count for _, count in tree.slices)
        lines.append(
            f"| `{tree.spec}` | {value:.2f} | {tree.median_slice_ms():.2f} | {turns} | {value - first:+.2f} |"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__.split("\n")[0])
    parser.add_argument("--trees", required=True, help="roots, comma-separated (root|NAME=VALUE)")
    parser.add_argument("--scenario", choices=SCENARIOS, default="non-streamed")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--slices", type=int, default=10, help="slices per tree (default 10)")
    parser.add_argument("--seconds", type=float, default=1.0, help="length of a slice (default 1 s)")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent clients (default 8)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    trees = [Tree.parse(spec) for spec in args.trees.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="chatloom-compare-"))
    with ExitStack() as stack:
        llm, llm_base_url = start_fake_llm(workdir)
        stack.callback(llm.stop)
        for index, tree in enumerate(trees):
            url = stack.enter_context(database(args.backend, workdir, index))
            start(tree, url, llm_base_url, workdir, index)
            server = tree.server
            assert server is not None
            stack.callback(server.stop)
        asyncio.run(measure(trees, args.scenario, args.slices, args.seconds, args.concurrency))
    print(report(trees, args))


if __name__ == "__main__":
    try:
        main()
    except BenchSetupError as error:
        sys.exit(f"bench.compare: {error}")
