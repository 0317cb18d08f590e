"""Search: a knowledge base's best passages for a query, by full text and, when the org embeds, by vector,
merged by reciprocal rank fusion.

Each ranking contributes 1 / (k + rank) to a passage (k = 60, ranks from 1), so a passage near the top of
both rankings beats one at the top of only one, and neither ranking's scores need to be comparable. Each
ranking offers `CANDIDATES` passages. When the query cannot be embedded (the provider fails or times out)
the search answers from full text alone and says so (`embedded` is False), rather than failing the turn.
`passages_text` formats the passages found for the model, each under its file's name and heading path.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from chatloom.domain.errors import UpstreamError, UpstreamTimeout
from chatloom.providers.embeddings import Embedder, EmbeddingResult
from chatloom.store import passages
from chatloom.store.db import Database
from chatloom.store.passages import Hit

logger = logging.getLogger("chatloom.retrieval")

RRF_K = 60
CANDIDATES = 20
"""Passages each ranking offers to the fusion."""
DEFAULT_LIMIT = 5
MAX_QUERY_CHARS = 2_000
"""A longer query keeps its end (the latest words of a conversation)."""
MAX_TEXT_CHARS = 12_000
"""The most characters `passages_text` gives the model."""


@dataclass(frozen=True, slots=True)
class SearchResult:
    """The passages found, best first (`score` is the fused score), and the query's embedding call when
    there was one (for its cost line)."""

    hits: list[Hit]
    embedding: EmbeddingResult | None = None
    embedded: bool = False
    """Whether vectors took part (False without an embedder, or when embedding the query failed)."""


def fuse(rankings: Sequence[Sequence[Hit]], limit: int, k: int = RRF_K) -> list[Hit]:
    """Reciprocal rank fusion of rankings (each best first): the `limit` best passages, each with its fused
    score; ties go to the passage seen first."""
    scores: dict[int, float] = {}
    first: dict[int, Hit] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking, start=1):
            scores[hit.passage_id] = scores.get(hit.passage_id, 0.0) + 1.0 / (k + rank)
            first.setdefault(hit.passage_id, hit)
    order = sorted(first, key=lambda passage_id: -scores[passage_id])
    return [replace(first[passage_id], score=scores[passage_id]) for passage_id in order[:limit]]


async def search(
    db: Database,
    org_id: str,
    source_ids: Sequence[str],
    query: str,
    *,
    limit: int = DEFAULT_LIMIT,
    embedder: Embedder | None = None,
) -> SearchResult:
    """The `limit` passages of the sources (a knowledge base's file ids) that best answer `query`."""
    query = query[-MAX_QUERY_CHARS:]
    if not source_ids or not query.strip():
        return SearchResult([])
    candidates = max(limit, CANDIDATES)
    async with db.read() as conn:
        by_text = await passages.search_text(conn, org_id, source_ids, query, candidates)
    if embedder is None:
        return SearchResult(by_text[:limit])
    try:
        embedding = await embedder.embed([query])
    except (UpstreamError, UpstreamTimeout) as error:
        logger.warning("the query could not be embedded (%s); searching by full text only", error)
        return SearchResult(by_text[:limit])
    async with db.read() as conn:
        by_vector = await passages.search_vectors(
            conn, org_id, source_ids, embedding.vectors[0], candidates, embedding.model
        )
    return SearchResult(fuse([by_text, by_vector], limit), embedding, embedded=True)


def passages_text(hits: Sequence[Hit], names: Mapping[str, str], max_chars: int = MAX_TEXT_CHARS) -> str:
    """The passages for the model, best first: each under a line naming its file (by `names`, source id to
    file name; the source id when unnamed) and its heading path, at most `max_chars` characters in all."""
    if not hits:
        return "No passages of the knowledge base match."
    blocks: list[str] = []
    used = 0
    for number, hit in enumerate(hits, start=1):
        name = names.get(hit.source_id, hit.source_id)
        heading = hit.heading if hit.heading.startswith(name) else f"{name} > {hit.heading}"
        block = f"[{number}] {heading}\n{hit.text}"
        if used + len(block) > max_chars:
            if not blocks:
                blocks.append(block[:max_chars])
            break
        blocks.append(block)
        used += len(block) + 2
    return "\n\n".join(blocks)
