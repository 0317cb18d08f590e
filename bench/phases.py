"""The measured phases of `python -m bench.turns`, against processes that are already running: the fake LLM
alone (the baseline), each scenario through one chatloom server, and the time-to-first-token pairs.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping, Sequence

import aiohttp

from bench.load import CpuMeter, PhaseResult, Request, RequestFailed, client_cpu_seconds, run_phase
from bench.measurements import FirstTokens, Row
from bench.processes import Child, postgres_cpu_seconds
from bench.scenarios import (
    CHAINED,
    NON_STREAMED,
    RESPONSES_NON_STREAMED,
    RESPONSES_STREAMED,
    SESSION_TURNS,
    STREAMED,
    WEB_TURNS,
    DirectTurns,
    ResponsesTurns,
    ServerTurns,
    SessionTurns,
    WebTurns,
    create_assistant,
)

PHASE_TIME_LIMIT_SECONDS = 60.0


def client_session(concurrency: int) -> aiohttp.ClientSession:
    """An aiohttp session with enough connections for `concurrency` workers and a 60 s timeout."""
    connector = aiohttp.TCPConnector(limit=concurrency * 2)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60))


def log(message: str) -> None:
    """Progress on stderr, so that stdout carries only the report."""
    print(message, file=sys.stderr, flush=True)


async def measure_baseline(args: argparse.Namespace, fake: Child, llm_base_url: str) -> list[Row]:
    """The fake LLM alone, at the same concurrency: what the LLM side costs without chatloom."""
    direct = DirectTurns(llm_base_url)
    meters: dict[str, CpuMeter] = {"fake LLM": fake.cpu_seconds, "client": client_cpu_seconds}
    rows = []
    async with client_session(args.concurrency) as session:
        for scenario, request in ((NON_STREAMED, direct.non_streamed), (STREAMED, direct.streamed)):
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


async def measure_together(
    session: aiohttp.ClientSession,
    requests: Sequence[Request],
    args: argparse.Namespace,
    meters: Mapping[str, CpuMeter],
) -> list[PhaseResult]:
    """Measures one scenario in one phase of N turns, or scenarios to be compared (A and B) in slices of
    N/2 turns in the order A B B A, so that neither gains from running second on a warmer server and a drift
    during the measurement (e.g. a growing database) weighs on both alike."""
    if len(requests) == 1:
        return [
            await run_phase(
                session, requests[0], args.turns, args.concurrency, meters, PHASE_TIME_LIMIT_SECONDS
            )
        ]
    order = [*range(len(requests)), *reversed(range(len(requests)))]
    slices: list[list[PhaseResult]] = [[] for _ in requests]
    for position, which in enumerate(order):
        count = (args.turns + 1) // 2 if position < len(requests) else args.turns // 2
        result = await run_phase(
            session, requests[which], count, args.concurrency, meters, PHASE_TIME_LIMIT_SECONDS / 2
        )
        slices[which].append(result)
    return [PhaseResult.combined(parts) for parts in slices]


async def measure_backend(
    args: argparse.Namespace,
    backend: str,
    server: Child,
    url: str,
    key: str,
    public_key: str,
    fake: Child,
    llm_base_url: str,
    database_name: str | None,
) -> tuple[list[Row], FirstTokens]:
    """Every scenario, then the first-token pairs, against one running server.

    A `/chat/responses` scenario is measured together with the `/chat` scenario making the same turn (see
    `measure_together`), so their difference is what the OpenAI framing costs; likewise `/chat/web` with
    session turns through `/chat`, so their difference is what web chat (public key, origin, rate limit)
    adds.
    """
    meters: dict[str, CpuMeter] = {
        "server": server.cpu_seconds,
        "fake LLM": fake.cpu_seconds,
        "client": client_cpu_seconds,
    }
    if database_name is not None:
        meters["postgresql"] = lambda: postgres_cpu_seconds(database_name)
    rows = []
    async with client_session(args.concurrency) as session:
        assistant_id = await create_assistant(session, url, key)
        turns = ServerTurns(url, key, assistant_id)
        responses = ResponsesTurns(url, key, assistant_id)
        session_turns = SessionTurns(url, key, assistant_id)
        web_turns = WebTurns(url, public_key, assistant_id)
        steps: tuple[tuple[tuple[str, Request], ...], ...] = (
            ((NON_STREAMED, turns.non_streamed), (RESPONSES_NON_STREAMED, responses.non_streamed)),
            ((STREAMED, turns.streamed), (RESPONSES_STREAMED, responses.streamed)),
            ((CHAINED, turns.chained),),
            ((SESSION_TURNS, session_turns.turn), (WEB_TURNS, web_turns.turn)),
        )
        for step in steps:
            log(f"{backend}: {' and '.join(scenario for scenario, _ in step)}")
            for _, request in step:
                await run_phase(session, request, args.warmup, args.concurrency, {}, PHASE_TIME_LIMIT_SECONDS)
            turns.reset_chains()
            session_turns.reset()
            web_turns.reset()
            results = await measure_together(session, [request for _, request in step], args, meters)
            for (scenario, _), result in zip(step, results, strict=True):
                if result.first_error:
                    log(f"  {scenario}: {result.errors} failed turns; the first: {result.first_error}")
                rows.append(Row(backend, scenario, result))
        log(f"{backend}: time to first token")
        first = await first_token_pairs(
            session, backend, turns, DirectTurns(llm_base_url), args.first_token_turns
        )
    return rows, first
