"""File knowledge: searching the files of a knowledge base during a turn, and the embedder an org uses.

The embedder rule: when `CHATLOOM_KB_EMBEDDINGS` is on, an org embeds with OpenAI's `text-embedding-3-small`
when it has an OpenAI credential, else with Google's `gemini-embedding-001` when it has a Google one, else
with whichever of the two the server's environment has a key for (OpenAI first); with none, search is by
full text only. Indexing and search pick the same way, so a query is compared with vectors of its model.

A search reads the files' names and passages in short reads; the query's embedding call is made with no
connection held (`retrieval.search`). Its tokens are billed as a `KnowledgeBaseCall`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chatloom.domain.errors import InvalidRequest
from chatloom.domain.usage import KnowledgeBaseCall, Usage
from chatloom.engine.access.credentials import Credentials
from chatloom.engine.calls.pricing import PriceBook
from chatloom.providers.embeddings import Embedder, Embeddings
from chatloom.retrieval.search import passages_text, search
from chatloom.store import files as files_store
from chatloom.store import knowledge_bases
from chatloom.store.db import Database
from chatloom.store.passages import Hit

EMBEDDING_PROVIDERS = ("openai", "google")
"""Providers an org's knowledge bases embed with, in order of preference."""
TOP_PASSAGES = 5


@dataclass(frozen=True, slots=True)
class Found:
    """A search's answer for the model, the passages it holds, and its billed embedding call."""

    text: str
    hits: list[Hit]
    names: dict[str, str]
    call: KnowledgeBaseCall | None = None


class FileKnowledge:
    def __init__(
        self,
        db: Database,
        credentials: Credentials,
        embeddings: Embeddings | None,
        prices: PriceBook,
    ) -> None:
        """`embeddings` None: full text only."""
        self.db = db
        self.credentials = credentials
        self.embeddings = embeddings
        self.prices = prices

    async def embedder(self, org_id: str) -> Embedder | None:
        """The org's embedder by the rule above, or None."""
        if self.embeddings is None:
            return None
        for provider in EMBEDDING_PROVIDERS:
            key = await self.credentials.org_api_key(org_id, provider)
            if key is not None:
                return self.embeddings.embedder(provider, api_key=key)
        for provider in EMBEDDING_PROVIDERS:
            try:
                return self.embeddings.embedder(provider)
            except InvalidRequest:  # no key for it in the environment
                continue
        return None

    async def base_files(self, org_id: str, base_id: str) -> list[str]:
        """The indexed files of the org's `/v2/knowledge-base` (none for another org's id)."""
        async with self.db.read() as conn:
            return await knowledge_bases.ready_files(conn, org_id, [base_id])

    async def search(self, org_id: str, file_ids: Sequence[str], query: str) -> Found:
        """The passages of the org's files (among `file_ids`) that best answer `query`, for the model."""
        async with self.db.read() as conn:
            records = await files_store.get_many(conn, org_id, list(file_ids))
        names = {
            str(record["id"]): str(record.get("originalName") or record.get("name")) for record in records
        }
        embedder = await self.embedder(org_id) if names else None
        result = await search(self.db, org_id, list(names), query, limit=TOP_PASSAGES, embedder=embedder)
        call = None
        if result.embedding is not None and embedder is not None:
            tokens = result.embedding.prompt_tokens
            cost = self.prices.cost(embedder.provider, result.embedding.model, Usage(prompt_tokens=tokens))
            call = KnowledgeBaseCall(embedder.provider, result.embedding.model, tokens, cost)
        return Found(passages_text(result.hits, names), result.hits, names, call)

    async def aclose(self) -> None:
        if self.embeddings is not None:
            await self.embeddings.aclose()
