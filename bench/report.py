"""Renders the turn benchmark's results as Markdown: a header naming the machine and settings, then the
tables of bench/tables.py (throughput/CPU, `/chat/responses` vs `/chat`, time to first token, budgets).
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import sqlite3
import subprocess
from pathlib import Path

from bench.measurements import Run
from bench.tables import (
    budget_lines,
    first_token_table,
    responses_vs_chat_table,
    throughput_table,
    web_vs_chat_table,
)


def cpu_model() -> str:
    """The CPU model from /proc/cpuinfo, else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit() -> str:
    """The short commit measured, saying so when the work tree has uncommitted changes."""
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
    """The title and what the numbers were measured on: date, commit, machine, versions, N and C."""
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
        "each right after the same request sent straight to the fake LLM"
        + (" (`--quick`)" if run.quick else ""),
    ]


def render(run: Run) -> str:
    """The whole report, ending with a newline."""
    lines = header(run)
    lines += [f"\n**{reason}**" for reason in run.skipped]
    lines += ["", "## Throughput and CPU per turn", "", *throughput_table(run.rows)]
    comparison = responses_vs_chat_table(run.rows)
    if len(comparison) > 2:
        lines += [
            "",
            "## `/chat/responses` vs `/chat`: the same turn",
            "",
            "Server CPU per turn of the same turn (assistant, input, variable values, hence upstream "
            "request) through the OpenAI-compatible endpoint and through `/chat`, measured on the same "
            "server in interleaved slices (`/chat`, `/chat/responses`, `/chat/responses`, `/chat`, N/2 "
            "turns each); the difference is what the OpenAI framing costs (positive: `/chat/responses` "
            "costs more). See bench/README.md for how much it moves between runs.",
            "",
            *comparison,
        ]
    web = web_vs_chat_table(run.rows)
    if len(web) > 2:
        lines += [
            "",
            "## `/chat/web` vs `/chat`: the same session turn",
            "",
            "Server CPU per turn of the same session turn (each client carries a session of up to 20 turns) "
            "through `/chat` with a private key and `sessionId`, and through `/chat/web` as a page sends it "
            "(a public key restricted to one origin, the widget's headers; the rate limiter counts each "
            "turn); measured in interleaved slices like the `/chat/responses` pair. The difference is what "
            "web chat adds: key kind and origin checks, the rate-limit count (one upsert on PostgreSQL, "
            "in memory on SQLite), the web body checks.",
            "",
            *web,
        ]
    lines += ["", "## Time to the first streamed token", "", *first_token_table(run.first_tokens)]
    budget = budget_lines(run)
    if budget:
        lines += ["", "## Budgets", "", *budget]
    if run.notes:
        lines += ["", "## Notes", "", *(f"- {note}" for note in run.notes)]
    lines += [
        "",
        "Server CPU is the CPU time (user + system, from each thread's schedstat) of the `chatloom serve` "
        "process (all threads, SQLite included) over the measured phase, divided by its turns; "
        "PostgreSQL CPU is the backends serving the benchmark's "
        "database plus the cluster's shared processes. "
        "Latencies include the fake LLM and the client, on the same 2-core machine. See bench/README.md.",
    ]
    return "\n".join(lines) + "\n"
