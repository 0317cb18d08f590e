"""Knowledge-base retrieval on both databases: ten small documents indexed, thirty questions each answered by
one passage of one file, and the passage that answers must be among the top three, for at least 90 % of the
questions, by full text alone and by full text with embeddings (the fake LLM's, over HTTP on loopback, in
OpenAI's and Gemini's wire formats). Also: what a search may see (its org, its sources), what replacing and
deleting a source leave behind, and that a query's words are never full-text syntax."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from chatloom.domain.usage import KnowledgeBaseCall, Usage
from chatloom.engine.calls.costs import knowledge_base_cost_entry
from chatloom.engine.calls.pricing import PriceBook
from chatloom.providers.embeddings import Embedder, Embeddings
from chatloom.providers.google import GoogleProvider
from chatloom.providers.openai_compat import OpenAICompatibleProvider
from chatloom.providers.registry import ProviderRegistry
from chatloom.retrieval.chunks import chunk_text
from chatloom.retrieval.indexing import index_source
from chatloom.retrieval.search import passages_text, search
from chatloom.store import passages
from chatloom.store.db import Database, create_engine
from chatloom.testing.fake_llm import FakeLLM
from tests.support.engine_world import run

KB = Path(__file__).resolve().parent.parent / "fixtures" / "kb"
QUESTIONS = json.loads((KB / "questions.json").read_text(encoding="utf-8"))
TOP = 3
REQUIRED_HIT_RATE = 0.9


@dataclass
class Base:
    db: Database
    org_id: str
    sources: dict[str, str]
    """File name → source id."""

    @property
    def names(self) -> dict[str, str]:
        return {source: name for name, source in self.sources.items()}


@asynccontextmanager
async def knowledge_base(url: str, embedder: Embedder | None = None) -> AsyncIterator[Base]:
    db = Database(create_engine(url, pool_size=2))
    try:
        base = Base(db, str(uuid.uuid4()), {})
        for path in sorted(KB.iterdir()):
            if path.suffix in (".md", ".txt"):
                source = base.sources[path.name] = str(uuid.uuid4())
                text = path.read_text(encoding="utf-8")
                await index_source(db, base.org_id, source, path.name, text, embedder=embedder)
        yield base
    finally:
        await db.dispose()


def embeddings(fake: FakeLLM) -> Embeddings:
    environ = {
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_BASE_URL": fake.base_url,
        "GOOGLE_API_KEY": "goog-test",
        "GOOGLE_GEMINI_BASE_URL": fake.root_url,
    }
    registry = ProviderRegistry({"openai": OpenAICompatibleProvider(), "google": GoogleProvider()}, environ)
    return Embeddings(registry)


def flat(text: str) -> str:
    return " ".join(text.split())


async def hit_rate(base: Base, embedder: Embedder | None) -> tuple[float, list[str]]:
    missed: list[str] = []
    for item in QUESTIONS:
        found = await search(
            base.db, base.org_id, list(base.sources.values()), item["question"], limit=TOP, embedder=embedder
        )
        assert found.embedded is (embedder is not None)
        source = base.sources[item["file"]]
        if not any(hit.source_id == source and item["phrase"] in flat(hit.text) for hit in found.hits):
            missed.append(item["question"])
    return 1 - len(missed) / len(QUESTIONS), missed


def test_the_fixture_has_one_answering_passage_per_question() -> None:
    chunks = {
        path.name: chunk_text(path.read_text(), path.name) for path in KB.iterdir() if path.suffix != ".json"
    }
    assert len(chunks) == 10 and len(QUESTIONS) == 30
    for item in QUESTIONS:
        assert sum(item["phrase"] in flat(chunk.text) for chunk in chunks[item["file"]]) == 1, item


def test_full_text_finds_the_answering_passage_in_the_top_three(backend: str) -> None:
    async def play() -> None:
        async with knowledge_base(backend) as base:
            rate, missed = await hit_rate(base, None)
            print(f"full text, {backend.split(':')[0]}: top-{TOP} hit rate {rate:.0%}; missed {missed}")
            assert rate >= REQUIRED_HIT_RATE, missed

    run(backend, play)


@pytest.mark.parametrize("provider", ["openai", "google"])
def test_full_text_with_embeddings_finds_the_answering_passage_in_the_top_three(
    backend: str, fake_llm: FakeLLM, provider: str
) -> None:
    async def play() -> None:
        client = embeddings(fake_llm)
        embedder = client.embedder(provider)
        try:
            async with knowledge_base(backend, embedder) as base:
                async with base.db.read() as conn:
                    sizes = [await passages.source_size(conn, base.org_id, s) for s in base.sources.values()]
                    assert not await passages.unembedded(
                        conn, base.org_id, base.sources["faq.md"], embedder.model, 100
                    )
                rate, missed = await hit_rate(base, embedder)
                where = f"{provider} embeddings, {backend.split(':')[0]}"
                print(f"full text and {where}: top-{TOP} hit rate {rate:.0%}; missed {missed}")
                assert rate >= REQUIRED_HIT_RATE, missed
                assert sum(sizes) > 30
        finally:
            await client.aclose()
        paths = {request.path for request in fake_llm.requests}
        assert paths == (
            {"/v1/embeddings"}
            if provider == "openai"
            else {f"/v1beta/models/{embedder.model}:batchEmbedContents"}
        )

    run(backend, play)


def test_a_search_sees_only_its_org_and_its_sources(backend: str) -> None:
    async def play() -> None:
        async with knowledge_base(backend) as base:
            returns = base.sources["returns.md"]
            question = "How many days do I have to return a product?"
            async with base.db.read() as conn:
                other_org = await passages.search_text(conn, str(uuid.uuid4()), [returns], question, 5)
                other_files = await passages.search_text(
                    conn, base.org_id, [base.sources["hours.md"], base.sources["company.md"]], question, 5
                )
                only_returns = await passages.search_text(conn, base.org_id, [returns], question, 5)
            assert other_org == []
            assert all(hit.source_id != returns for hit in other_files)
            assert only_returns and {hit.source_id for hit in only_returns} == {returns}
            text = passages_text(only_returns[:1], base.names)
            assert text.startswith("[1] returns.md > Returns and refunds > Return window\n")

    run(backend, play)


def test_replacing_and_deleting_a_source_leave_no_stale_passages(backend: str) -> None:
    async def play() -> None:
        async with knowledge_base(backend) as base:
            source = base.sources["hours.md"]
            query = "Is the shop open on Mondays?"
            await index_source(
                base.db, base.org_id, source, "hours.md", "# Hours\n\nWe are open every day now."
            )
            await index_source(
                base.db, base.org_id, source, "hours.md", "# Hours\n\nWe are open every day now."
            )
            async with base.db.read() as conn:
                assert await passages.source_size(conn, base.org_id, source) == 1
                assert await passages.search_text(conn, base.org_id, [source], "Mondays closed", 5) == []
                assert [
                    hit.text for hit in await passages.search_text(conn, base.org_id, [source], query, 5)
                ] == ["We are open every day now."]
            async with base.db.write() as conn:
                assert await passages.delete_source(conn, base.org_id, source) == 1
            async with base.db.read() as conn:
                assert await passages.search_text(conn, base.org_id, [source], query, 5) == []
                assert await passages.search_text(
                    conn, base.org_id, list(base.sources.values()), "vinegar", 5
                )

    run(backend, play)


@pytest.mark.parametrize(
    "query",
    [
        '"unbalanced',
        "NEAR(kettle, warranty)",
        "kettle* AND -warranty",
        "col:warranty ^start",
        "a OR b NOT c",
        "'; --",
    ],
)
def test_query_syntax_is_only_words(backend: str, query: str) -> None:
    async def play() -> None:
        async with knowledge_base(backend) as base:
            async with base.db.read() as conn:
                found = await passages.search_text(conn, base.org_id, list(base.sources.values()), query, 5)
            words = passages.query_terms(query)
            for hit in found:
                assert any(word[:4] in (hit.heading + hit.text).lower() for word in words)

    run(backend, play)


def test_the_cost_line_of_embedded_tokens() -> None:
    cost = PriceBook().cost("openai", "text-embedding-3-small", Usage(prompt_tokens=1_000_000))
    line = knowledge_base_cost_entry(KnowledgeBaseCall("openai", "text-embedding-3-small", 1_000_000, cost))
    assert line == {
        "type": "knowledge-base",
        "model": {"provider": "openai", "model": "text-embedding-3-small"},
        "promptTokens": 1_000_000,
        "completionTokens": 0,
        "cost": 0.02,
    }
