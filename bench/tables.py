"""The Markdown tables of the turn benchmark's report: throughput and CPU per phase, `/chat/responses`
against `/chat` for the same turn, time to the first streamed token, and a line per budget.
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.load import PhaseResult, percentile
from bench.measurements import FirstTokens, Row, Run
from bench.scenarios import NON_STREAMED, RESPONSES_VS_CHAT, WEB_VS_CHAT

SERVER_CPU_BUDGET_MS = 1.5
SERVER_CPU_AIM_MS = 0.8
FIRST_TOKEN_BUDGET_MS = 1.0
WEB_ADDED_CPU_BUDGET_MS = 0.2


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def _cpu(result: PhaseResult, name: str) -> str:
    value = result.cpu_ms_per_turn(name)
    return "—" if value is None else f"{value:.2f}"


def throughput_table(rows: Sequence[Row]) -> list[str]:
    """A line per measured phase: turns/s, latency percentiles, CPU per turn of each process, errors."""
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


def _p50(result: PhaseResult) -> str:
    return _ms(percentile(result.latencies, 0.5)) if result.latencies else "—"


def pair_table(rows: Sequence[Row], pairs: Sequence[tuple[str, str]], first: str, second: str) -> list[str]:
    """Per backend and pair of scenarios making the same turn through two routes (`first`, `second`), their
    server CPU per turn side by side; the difference is what the second route adds."""
    by_phase = {(row.target, row.scenario): row.result for row in rows}
    lines = [
        f"| backend | turn | {first} server CPU ms/turn | {second} server CPU ms/turn "
        f"| **difference ms/turn** | difference % | turns/s {first} → {second} | p50 ms {first} → {second} |",
        "|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    for backend in dict.fromkeys(row.target for row in rows):
        for first_scenario, second_scenario in pairs:
            a = by_phase.get((backend, first_scenario))
            b = by_phase.get((backend, second_scenario))
            if a is None or b is None:
                continue
            a_cpu, b_cpu = a.cpu_ms_per_turn("server"), b.cpu_ms_per_turn("server")
            if a_cpu is None or b_cpu is None:
                difference = relative = "—"
            else:
                difference = f"**{b_cpu - a_cpu:+.2f}**"
                relative = f"{(b_cpu - a_cpu) / a_cpu:+.0%}" if a_cpu else "—"
            lines.append(
                f"| {backend} | {first_scenario} | {_cpu(a, 'server')} | {_cpu(b, 'server')} "
                f"| {difference} | {relative} | {a.rate:.0f} → {b.rate:.0f} | {_p50(a)} → {_p50(b)} |"
            )
    return lines


def responses_vs_chat_table(rows: Sequence[Row]) -> list[str]:
    """The same turn through `/chat` and `/chat/responses`: the difference is the OpenAI framing's cost."""
    return pair_table(rows, RESPONSES_VS_CHAT, "/chat", "/chat/responses")


def web_vs_chat_table(rows: Sequence[Row]) -> list[str]:
    """The same session turn through `/chat` and `/chat/web`: the difference is what web chat adds."""
    return pair_table(rows, WEB_VS_CHAT, "/chat", "/chat/web")


def first_token_table(items: Sequence[FirstTokens]) -> list[str]:
    """Per backend, the time to the first token through chatloom and direct, and what chatloom adds."""
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
    """Per backend, whether the CPU and first-token budgets hold (for `/chat` turns)."""
    lines: list[str] = []
    for row in run.rows:
        value = row.result.cpu_ms_per_turn("server")
        if row.scenario != NON_STREAMED or value is None:
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
    by_phase = {(row.target, row.scenario): row.result for row in run.rows}
    for backend in dict.fromkeys(row.target for row in run.rows):
        for chat_scenario, web_scenario in WEB_VS_CHAT:
            chat, web = by_phase.get((backend, chat_scenario)), by_phase.get((backend, web_scenario))
            chat_cpu = chat.cpu_ms_per_turn("server") if chat else None
            web_cpu = web.cpu_ms_per_turn("server") if web else None
            if chat_cpu is None or web_cpu is None:
                continue
            added = web_cpu - chat_cpu
            verdict = "within budget" if added <= WEB_ADDED_CPU_BUDGET_MS else "**over budget**"
            lines.append(
                f"- {backend}: {added:+.2f} ms server CPU added by a `/chat/web` turn over the same `/chat` "
                f"session turn — {verdict} (budget ≤ {WEB_ADDED_CPU_BUDGET_MS:g} ms)"
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
