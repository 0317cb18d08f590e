"""Indexing: a file's extracted text made a source's passages, and embedded when an embedder is given.

The passages replace the source's old ones in one transaction; vectors are then made in batches, each
batch's embedding call made with no connection held and its vectors stored in a short transaction of their
own. Running it again gives the same passages (chunking is deterministic) and embeds only what has no vector
of the embedder's model, so an indexing job that died midway can simply run again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chatloom.domain.ids import utc_now
from chatloom.providers.embeddings import Embedder
from chatloom.retrieval.chunks import chunk_text
from chatloom.store import passages
from chatloom.store.db import Database

EMBED_BATCH = 256
"""Passages embedded per call (and per stored batch)."""


@dataclass(frozen=True, slots=True)
class Indexed:
    """What indexing did: passages written, passages embedded, and the tokens the embeddings billed."""

    passages: int
    embedded: int = 0
    prompt_tokens: int = 0
    model: str | None = None


def embedding_input(heading: str, text: str) -> str:
    """What is embedded for a passage: its context line, then its text."""
    return f"{heading}\n{text}" if heading else text


async def index_source(
    db: Database,
    org_id: str,
    source_id: str,
    file_name: str,
    text: str,
    *,
    embedder: Embedder | None = None,
    now: datetime | None = None,
) -> Indexed:
    """Makes `text` (a file's extracted text) the source's passages, and embeds them with `embedder`."""
    chunks = chunk_text(text, file_name)
    async with db.write(starts_with_write=True) as conn:
        written = await passages.replace_source(conn, org_id, source_id, chunks, now or utc_now())
    if embedder is None:
        return Indexed(written)
    return await embed_source(db, org_id, source_id, embedder, written)


async def embed_source(
    db: Database, org_id: str, source_id: str, embedder: Embedder, written: int
) -> Indexed:
    """Embeds the source's passages that have no vector of the embedder's model (at most `written`)."""
    embedded = tokens = 0
    while embedded < written:
        async with db.read() as conn:
            pending = await passages.unembedded(conn, org_id, source_id, embedder.model, EMBED_BATCH)
        if not pending:
            break
        result = await embedder.embed([embedding_input(item.heading, item.text) for item in pending])
        pairs = zip((item.passage_id for item in pending), result.vectors, strict=True)
        async with db.write(starts_with_write=True) as conn:
            await passages.set_embeddings(conn, org_id, result.model, pairs)
        embedded += len(pending)
        tokens += result.prompt_tokens
    return Indexed(written, embedded, tokens, embedder.model)
