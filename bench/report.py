"""Renders the turn benchmark's results as Markdown: a header naming the machine and settings, the
throughput/CPU table, the time-to-first-token table, and a line per budget saying whether it holds.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import sqlite3
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.load import PhaseResult, percentile

SERVER_CPU_BUDGET_MS = 2.0
SERVER_CPU_AIM_MS = 1.0
FIRST_TOKEN_BUDGET_MS = 1.0


@dataclass
class Row:
    """One measured phase: who served it (a backend, or the fake LLM alone) and what it did."""

    target: str
    scenario: str
    result: PhaseResult


@dataclass
class FirstTokens:
    """Time to the first `data:` frame through chatloom and straight from the fake LLM, in seconds."""

    backend: str
    server: list[float]
    direct: list[float]
    errors: int = 0


@dataclass
class Run:
    turns: int
    concurrency: int
    warmup: int
    first_token_turns: int
    rows: list[Row] = field(default_factory=list)
    first_tokens: list[FirstTokens] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    load_average: str = field(default_factory=lambda: " ".join(f"{x:.2f}" for x in os.getloadavg()))


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def _cpu(result: PhaseResult, name: str) -> str:
    value = result.cpu_ms_per_turn(name)
    return "—" if value is None else f"{value:.2f}"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit() -> str:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except OSError:
        return "unknown"
    commit = result.stdout.strip() or "unknown"
    changed = subprocess.run(["git", "diff", "--quiet", "HEAD", "--"], capture_output=True, check=False)
    return f"{commit} + uncommitted changes" if changed.returncode == 1 else commit


def header(run: Run) -> list[str]:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    versions = " · ".join(f"{name} {version}" for name, version in run.versions.items())
    return [
        "# chatloom turn benchmark (`python -m bench.turns`)",
        "",
        f"- date: {now} · commit {git_commit()}",
        f"- machine: `nproc` = {os.cpu_count()} · {cpu_model()} · {platform.system()} {platform.release()} "
        f"· load average at start {run.load_average}",
        f"- Python {platform.python_version()} · SQLite {sqlite3.sqlite_version}"
        + (f" · {versions}" if versions else ""),
        f"- N = {run.turns} turns per scenario after {run.warmup} warm-up turns, C = {run.concurrency} "
        f"concurrent clients; first token: {run.first_token_turns} streamed turns at concurrency 1, "
        "each right after the same request sent straight to the fake LLM",
    ]


def throughput_table(rows: Sequence[Row]) -> list[str]:
    lines = [
        "| target | scenario | turns | turns/s | p50 ms | p99 ms | **server CPU ms/turn** "
        "| PostgreSQL CPU ms/turn | fake LLM CPU ms/turn | client CPU ms/turn | errors |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in rows:
        result = row.result
        latency = (
            (_ms(percentile(result.latencies, 0.5)), _ms(percentile(result.latencies, 0.99)))
            if result.latencies
            else ("—", "—")
        )
        server_cpu = _cpu(result, "server")
        server_cpu = server_cpu if server_cpu == "—" else f"**{server_cpu}**"
        scenario = row.scenario + (" (time limit hit)" if result.timed_out else "")
        lines.append(
            f"| {row.target} | {scenario} | {result.ok} | {result.rate:.0f} | {latency[0]} | {latency[1]} "
            f"| {server_cpu} | {_cpu(result, 'postgresql')} "
            f"| {_cpu(result, 'fake LLM')} | {_cpu(result, 'client')} | {result.errors} |"
        )
    return lines


def first_token_table(items: Sequence[FirstTokens]) -> list[str]:
    lines = [
        "| backend | turns | through chatloom p50 / p99 ms | fake LLM direct p50 / p99 ms "
        "| **added p50 ms** | **added p99 ms** | errors |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    for item in items:
        if not item.server or not item.direct:
            lines.append(f"| {item.backend} | 0 | — | — | — | — | {item.errors} |")
            continue
        server = percentile(item.server, 0.5), percentile(item.server, 0.99)
        direct = percentile(item.direct, 0.5), percentile(item.direct, 0.99)
        lines.append(
            f"| {item.backend} | {len(item.server)} | {_ms(server[0])} / {_ms(server[1])} "
            f"| {_ms(direct[0])} / {_ms(direct[1])} | **{_ms(server[0] - direct[0])}** "
            f"| **{_ms(server[1] - direct[1])}** | {item.errors} |"
        )
    return lines


def budget_lines(run: Run) -> list[str]:
    lines: list[str] = []
    for row in run.rows:
        value = row.result.cpu_ms_per_turn("server")
        if row.scenario != "non-streamed" or value is None:
            continue
        verdict = (
            "within the aim"
            if value <= SERVER_CPU_AIM_MS
            else "within budget"
            if value <= SERVER_CPU_BUDGET_MS
            else "**over budget**"
        )
        lines.append(
            f"- {row.target}: {value:.2f} ms server CPU per non-streamed turn — {verdict} "
            f"(budget ≤ {SERVER_CPU_BUDGET_MS:g} ms, aim {SERVER_CPU_AIM_MS:g} ms)"
        )
    for item in run.first_tokens:
        if item.server and item.direct:
            added = percentile(item.server, 0.5) - percentile(item.direct, 0.5)
            verdict = "within budget" if added < FIRST_TOKEN_BUDGET_MS / 1000 else "**over budget**"
            lines.append(
                f"- {item.backend}: {added * 1000:.2f} ms added to the first streamed token (p50) — "
                f"{verdict} (budget < {FIRST_TOKEN_BUDGET_MS:g} ms)"
            )
    return lines


def render(run: Run) -> str:
    lines = header(run)
    lines += [f"\n**{reason}**" for reason in run.skipped]
    lines += ["", "## Throughput and CPU per turn", "", *throughput_table(run.rows)]
    lines += ["", "## Time to the first streamed token", "", *first_token_table(run.first_tokens)]
    budget = budget_lines(run)
    if budget:
        lines += ["", "## Budgets", "", *budget]
    if run.notes:
        lines += ["", "## Notes", "", *(f"- {note}" for note in run.notes)]
    lines += [
        "",
        "Server CPU is utime+stime of the `chatloom serve` process (all threads, SQLite included) over the "
        "measured phase, divided by its turns; PostgreSQL CPU is the backends serving the benchmark's "
        "database plus the cluster's shared processes. "
        "Latencies include the fake LLM and the client, on the same 2-core machine. See bench/README.md.",
    ]
    return "\n".join(lines) + "\n"
