"""`python -m bench.retrieval`: knowledge-base indexing throughput and search latency.

A synthetic knowledge base of `--chunks` passages (default 10,000, in files of 100 passages of about 800
characters: Zipf-distributed words from a fixed vocabulary, with markdown headings) is indexed and searched
on each database:

- indexing throughput in pages per second (a page is 3,000 characters): chunking and writing the passages
  with their full-text index, then (separately) embedding them with the fake LLM's embeddings over HTTP on
  loopback (its own thread: its CPU counts here, so the embedding figure is a floor for chatloom's share);
- search latency p50/p99 over `--queries` questions of 3 to 6 words against the whole base: full text only,
  and full text with embeddings (the query embedded by the fake, vectors ranked in process, fused).

Results go to `bench/results/retrieval.md` (`--output`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from bench.processes import PostgresUnavailable, postgresql_database
from chatloom.providers.embeddings import Embedder, Embeddings
from chatloom.providers.openai_compat import OpenAICompatibleProvider
from chatloom.providers.registry import ProviderRegistry
from chatloom.retrieval.indexing import embed_source, index_source
from chatloom.retrieval.search import search
from chatloom.store.db import Database, create_engine, migrate
from chatloom.testing.fake_llm import FakeLLM

PAGE_CHARS = 3_000
CHUNKS_PER_FILE = 100
VOCABULARY = 6_000
SEED = 20261208


@dataclass(frozen=True, slots=True)
class Result:
    backend: str
    chunks: int
    pages: float
    index_seconds: float
    embed_seconds: float
    text_ms: tuple[float, float]
    hybrid_ms: tuple[float, float]


def vocabulary(rng: random.Random) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words: set[str] = set()
    while len(words) < VOCABULARY:
        words.add("".join(rng.choice(letters) for _ in range(rng.randint(3, 10))))
    return sorted(words)


def files(chunks: int, rng: random.Random, words: list[str]) -> list[str]:
    """Markdown files of about CHUNKS_PER_FILE passages each."""
    weights = [1 / (rank + 1) for rank in range(len(words))]
    texts: list[str] = []
    for _ in range(max(1, chunks // CHUNKS_PER_FILE)):
        sections: list[str] = []
        for section in range(CHUNKS_PER_FILE // 4):
            paragraphs = []
            for _ in range(4):
                drawn = rng.choices(words, weights, k=95)
                paragraphs.append(" ".join(drawn).capitalize() + ".")
            sections.append(f"## Section {section} {rng.choice(words)}\n\n" + "\n\n".join(paragraphs))
        texts.append("# " + rng.choice(words) + "\n\n" + "\n\n".join(sections))
    return texts


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def timed(calls: list[Callable[[], Awaitable[object]]]) -> list[float]:
    samples = []
    for call in calls:
        start = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


async def measure(url: str, backend: str, embedder: Embedder, chunks: int, queries: int) -> Result:
    rng = random.Random(SEED)
    words = vocabulary(rng)
    texts = files(chunks, rng, words)
    db = Database(create_engine(url, pool_size=4))
    org_id, sources = str(uuid.uuid4()), [str(uuid.uuid4()) for _ in texts]
    try:
        start = time.perf_counter()
        written = 0
        for number, (source, text) in enumerate(zip(sources, texts, strict=True)):
            written += (await index_source(db, org_id, source, f"file-{number}.md", text)).passages
        index_seconds = time.perf_counter() - start
        start = time.perf_counter()
        for source in sources:
            await embed_source(db, org_id, source, embedder, CHUNKS_PER_FILE * 2)
        embed_seconds = time.perf_counter() - start
        questions = [" ".join(rng.choices(words[:2000], k=rng.randint(3, 6))) for _ in range(queries)]
        for question in questions[:10]:  # warm caches and connections
            await search(db, org_id, sources, question, embedder=embedder)
        text_ms = await timed([lambda q=q: search(db, org_id, sources, q) for q in questions])
        hybrid_ms = await timed(
            [lambda q=q: search(db, org_id, sources, q, embedder=embedder) for q in questions]
        )
    finally:
        await db.dispose()
    pages = sum(len(text) for text in texts) / PAGE_CHARS
    return Result(
        backend, written, pages, index_seconds, embed_seconds, percentiles(text_ms), percentiles(hybrid_ms)
    )


def run_backend(backend: str, fake: FakeLLM, chunks: int, queries: int) -> Result:
    environ = {"OPENAI_API_KEY": "sk-bench", "OPENAI_BASE_URL": fake.base_url}
    client = Embeddings(ProviderRegistry({"openai": OpenAICompatibleProvider()}, environ))

    async def play(url: str) -> Result:
        try:
            return await measure(url, backend, client.embedder("openai"), chunks, queries)
        finally:
            await client.aclose()

    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as directory:
            url = f"sqlite+aiosqlite:///{directory}/bench.db"
            migrate(url)
            return asyncio.run(play(url))
    with postgresql_database() as (url, _):
        migrate(url)
        return asyncio.run(play(url))


def report(results: list[Result], chunks: int, queries: int) -> str:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    lines = [
        "# Retrieval: indexing and search",
        "",
        f"{time.strftime('%Y-%m-%d')}, commit {commit or 'unknown'}, {os.cpu_count()} CPUs"
        f" ({platform.machine()}), Python {platform.python_version()}, SQLite {sqlite3.sqlite_version};"
        f" {chunks} passages of about 800 characters in files of {CHUNKS_PER_FILE}; {queries} queries of 3"
        " to 6 words over the whole base.",
        "Embeddings: the fake LLM's (256 dimensions) over HTTP on loopback, in this process.",
        "",
        "| backend | passages | pages | index (full text) pages/s | embed pages/s | full text p50 / p99 ms"
        " | with embeddings p50 / p99 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.backend} | {r.chunks} | {r.pages:.0f} | {r.pages / r.index_seconds:.0f} |"
            f" {r.pages / r.embed_seconds:.0f} | {r.text_ms[0]:.1f} / {r.text_ms[1]:.1f} |"
            f" {r.hybrid_ms[0]:.1f} / {r.hybrid_ms[1]:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.retrieval", description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=10_000, help="passages in the knowledge base")
    parser.add_argument("--queries", type=int, default=100, help="measured queries per mode")
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated: sqlite,postgresql")
    parser.add_argument("--output", default="bench/results/retrieval.md", help="where the report goes")
    args = parser.parse_args()
    results = []
    with FakeLLM(record_requests=False).start() as fake:
        for backend in args.backends.split(","):
            try:
                results.append(run_backend(backend, fake, args.chunks, args.queries))
            except PostgresUnavailable as error:
                print(f"skipped {backend}: {error}")
    text = report(results, args.chunks, args.queries)
    print(text)
    Path(args.output).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
