"""Passages: knowledge-base text in chunks, searched by full text and by embedding, scoped to an org and to
the sources (file ids) a search names.

A source's passages are replaced together (`replace_source`) and deleted together (`delete_source`), in the
caller's transaction. Full text is each database's own: SQLite's FTS5 table `passages_fts` (external content,
kept in step here: rows are added after the passages are written and removed, with the values they were
indexed with, before they are deleted), ranked by bm25; PostgreSQL's generated `search_vector` column, ranked
by `ts_rank_cd`. Both stem English words. A query's words are matched, never its syntax: each word becomes a
quoted term, and a passage matching any of them is a candidate (ranked by how many, how rare and how often),
so a question in natural words finds the passage that answers it.

Embeddings are stored L2-normalized as little-endian float32 bytes with the model that made them; a vector
search reads the candidate sources' vectors and ranks them by cosine similarity (a dot product of normalized
vectors) in process, which serves knowledge bases of tens of thousands of passages.
"""

from __future__ import annotations

import heapq
import math
import operator
import re
import sys
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import bindparam, delete, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from chatloom.store.tables import passages

MAX_QUERY_TERMS = 32
MAX_TERM_CHARS = 64
MAX_LIMIT = 100
MAX_SOURCES = 1000
"""Sources one search may name (a knowledge base's files)."""
MAX_PASSAGES_PER_SOURCE = 20_000
MAX_HEADING_CHARS = 300
MAX_BODY_CHARS = 8_000
MAX_DIMENSIONS = 4096
INSERT_BATCH = 500
VECTOR_BATCH = 2_000
"""Passages `unembedded` returns at most."""

WORD = re.compile(r"[^\W_]+")
STOP_WORDS = frozenset(
    re.findall(
        r"\w+",
        """a about an and are as at be been but by can could do does did for from had has have how i if in
        into is it its me my of on or our so than that the their them then there these they this to us was
        we were what when where which who whom why will with would you your""",
    )
)
"""English words too common to say what a question is about; left out of full-text queries (PostgreSQL's
English configuration leaves out the same and more)."""


class ChunkLike(Protocol):
    """What a passage is made from (`retrieval.chunks.Chunk`)."""

    @property
    def ordinal(self) -> int: ...

    @property
    def heading(self) -> str: ...

    @property
    def text(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Hit:
    """A passage found: its id, source (file id), position in the source, context, text and score (higher
    is better; scores of different searches are not comparable)."""

    passage_id: int
    source_id: str
    ordinal: int
    heading: str
    text: str
    score: float


@dataclass(frozen=True, slots=True)
class Unembedded:
    """A passage without a vector (of the model asked about): what an embedder needs to make one."""

    passage_id: int
    heading: str
    text: str


def query_terms(query: str) -> list[str]:
    """The words of `query` a full-text search looks for: lower-cased letters and digits only, common words
    left out, each once, at most MAX_QUERY_TERMS of them."""
    terms: list[str] = []
    for word in WORD.findall(query.lower()):
        if word in STOP_WORDS or len(word) > MAX_TERM_CHARS or word in terms:
            continue
        terms.append(word)
        if len(terms) == MAX_QUERY_TERMS:
            break
    return terms


def fts5_query(terms: Sequence[str]) -> str:
    """An FTS5 MATCH expression matching any of `terms`, each a quoted string (never an operator)."""
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)


def tsquery(terms: Sequence[str]) -> str:
    """A `to_tsquery` text matching any of `terms` (letters and digits only, so nothing is an operator)."""
    return " | ".join(term for term in terms if WORD.fullmatch(term))


def _sqlite(conn: AsyncConnection) -> bool:
    return conn.dialect.name == "sqlite"


def _check_scope(source_ids: Sequence[str], limit: int) -> None:
    if len(source_ids) > MAX_SOURCES:
        raise ValueError(f"a search names at most {MAX_SOURCES} sources")
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"a search returns 1 to {MAX_LIMIT} passages")


_FTS_ADD = text(
    "INSERT INTO passages_fts (rowid, heading, body) SELECT id, heading, body FROM passages "
    "WHERE org_id = :org_id AND source_id = :source_id"
)
_FTS_REMOVE = text(
    "INSERT INTO passages_fts (passages_fts, rowid, heading, body) SELECT 'delete', id, heading, body "
    "FROM passages WHERE org_id = :org_id AND source_id = :source_id"
)


async def delete_source(conn: AsyncConnection, org_id: str, source_id: str) -> int:
    """Deletes a source's passages (and their full-text entries); returns how many there were."""
    scope = {"org_id": org_id, "source_id": source_id}
    if _sqlite(conn):
        await conn.execute(_FTS_REMOVE, scope)
    result = await conn.execute(
        delete(passages).where(passages.c.org_id == org_id, passages.c.source_id == source_id)
    )
    return int(result.rowcount or 0)


async def replace_source(
    conn: AsyncConnection, org_id: str, source_id: str, chunks: Sequence[ChunkLike], now: datetime
) -> int:
    """Makes `chunks` a source's passages (without embeddings), replacing what it had; returns how many."""
    if len(chunks) > MAX_PASSAGES_PER_SOURCE:
        raise ValueError(f"a source has at most {MAX_PASSAGES_PER_SOURCE} passages")
    for chunk in chunks:
        if len(chunk.heading) > MAX_HEADING_CHARS or len(chunk.text) > MAX_BODY_CHARS:
            raise ValueError(f"a passage has at most {MAX_HEADING_CHARS} + {MAX_BODY_CHARS} characters")
    await delete_source(conn, org_id, source_id)
    rows = [
        {
            "org_id": org_id,
            "source_id": source_id,
            "ordinal": chunk.ordinal,
            "heading": chunk.heading,
            "body": chunk.text,
            "created_at": now,
        }
        for chunk in chunks
    ]
    for start in range(0, len(rows), INSERT_BATCH):
        await conn.execute(insert(passages), rows[start : start + INSERT_BATCH])
    if _sqlite(conn) and rows:
        await conn.execute(_FTS_ADD, {"org_id": org_id, "source_id": source_id})
    return len(rows)


async def source_size(conn: AsyncConnection, org_id: str, source_id: str) -> int:
    """How many passages a source has."""
    found = await conn.scalar(
        select(func.count())
        .select_from(passages)
        .where(passages.c.org_id == org_id, passages.c.source_id == source_id)
    )
    return int(found or 0)


_SQLITE_SEARCH = text(
    "SELECT p.id, p.source_id, p.ordinal, p.heading, p.body, -bm25(passages_fts, 1.5, 1.0) AS score "
    "FROM passages_fts JOIN passages AS p ON p.id = passages_fts.rowid "
    "WHERE passages_fts MATCH :match AND p.org_id = :org_id AND p.source_id IN :source_ids "
    "ORDER BY bm25(passages_fts, 1.5, 1.0) LIMIT :limit"
).bindparams(bindparam("source_ids", expanding=True))
_POSTGRES_SEARCH = text(
    "SELECT p.id, p.source_id, p.ordinal, p.heading, p.body, ts_rank_cd(p.search_vector, q, 1) AS score "
    "FROM passages AS p, to_tsquery('english'::regconfig, :tsquery) AS q "
    "WHERE p.search_vector @@ q AND p.org_id = :org_id AND p.source_id = ANY(:source_ids) "
    "ORDER BY score DESC, p.id LIMIT :limit"
)


async def search_text(
    conn: AsyncConnection, org_id: str, source_ids: Sequence[str], query: str, limit: int
) -> list[Hit]:
    """The `limit` passages of the sources that best match any word of `query`, best first."""
    _check_scope(source_ids, limit)
    terms = query_terms(query)
    if not terms or not source_ids:
        return []
    if _sqlite(conn):
        parameters: dict[str, Any] = {"match": fts5_query(terms), "source_ids": list(source_ids)}
        statement = _SQLITE_SEARCH
    else:
        parameters = {"tsquery": tsquery(terms), "source_ids": list(source_ids)}
        statement = _POSTGRES_SEARCH
    result = await conn.execute(statement, {**parameters, "org_id": org_id, "limit": limit})
    return [Hit(row[0], row[1], row[2], row[3], row[4], float(row[5])) for row in result]


def pack_vector(vector: Sequence[float]) -> bytes:
    """A vector as stored: L2-normalized, little-endian float32."""
    if not 1 <= len(vector) <= MAX_DIMENSIONS:
        raise ValueError(f"an embedding has 1 to {MAX_DIMENSIONS} dimensions")
    norm = math.sqrt(math.fsum(value * value for value in vector))
    values = array("f", (value / norm for value in vector) if norm > 0 else vector)
    if sys.byteorder == "big":
        values.byteswap()
    return values.tobytes()


def unpack_vector(data: bytes) -> array[float]:
    values = array("f")
    values.frombytes(data)
    if sys.byteorder == "big":
        values.byteswap()
    return values


async def unembedded(
    conn: AsyncConnection, org_id: str, source_id: str, model: str, limit: int
) -> list[Unembedded]:
    """Up to `limit` of a source's passages without a vector of `model`, in order."""
    result = await conn.execute(
        select(passages.c.id, passages.c.heading, passages.c.body)
        .where(
            passages.c.org_id == org_id,
            passages.c.source_id == source_id,
            (passages.c.embedding_model.is_(None)) | (passages.c.embedding_model != model),
        )
        .order_by(passages.c.ordinal)
        .limit(min(limit, VECTOR_BATCH))
    )
    return [Unembedded(row[0], row[1], row[2]) for row in result]


_SET_EMBEDDING = (
    update(passages)
    .where(passages.c.id == bindparam("passage_id"), passages.c.org_id == bindparam("owner_id"))
    .values(embedding=bindparam("vector"), embedding_model=bindparam("model"))
)


async def set_embeddings(
    conn: AsyncConnection, org_id: str, model: str, vectors: Iterable[tuple[int, Sequence[float]]]
) -> int:
    """Stores `(passage id, vector)` pairs made by `model` on the org's passages; returns how many."""
    rows = [
        {"passage_id": passage_id, "owner_id": org_id, "vector": pack_vector(vector), "model": model}
        for passage_id, vector in vectors
    ]
    if len(model) > 200:
        raise ValueError("an embedding model's name has at most 200 characters")
    for start in range(0, len(rows), INSERT_BATCH):
        await conn.execute(_SET_EMBEDDING, rows[start : start + INSERT_BATCH])
    return len(rows)


def _dot() -> Callable[[Sequence[float], Sequence[float]], float]:
    sumprod = getattr(math, "sumprod", None)  # Python 3.12+: a C loop
    if sumprod is not None:
        return sumprod  # type: ignore[no-any-return]
    return lambda left, right: sum(map(operator.mul, left, right))


DOT = _dot()


async def search_vectors(
    conn: AsyncConnection,
    org_id: str,
    source_ids: Sequence[str],
    vector: Sequence[float],
    limit: int,
    model: str,
) -> list[Hit]:
    """The `limit` passages of the sources whose `model` vectors are closest to `vector` (cosine), best
    first. Passages without such a vector are not candidates."""
    _check_scope(source_ids, limit)
    if not source_ids:
        return []
    query = unpack_vector(pack_vector(vector))
    size = 4 * len(query)
    best: list[tuple[float, int]] = []
    for source_id in dict.fromkeys(source_ids):  # one source at a time: an index range, bounded memory
        rows = await conn.execute(
            select(passages.c.id, passages.c.embedding).where(
                passages.c.org_id == org_id,
                passages.c.source_id == source_id,
                passages.c.embedding_model == model,
            )
        )
        scored = ((DOT(query, unpack_vector(row[1])), row[0]) for row in rows if len(row[1]) == size)
        best = heapq.nlargest(limit, [*best, *scored])
    if not best:
        return []
    found = await conn.execute(
        select(
            passages.c.id, passages.c.source_id, passages.c.ordinal, passages.c.heading, passages.c.body
        ).where(passages.c.org_id == org_id, passages.c.id.in_([passage_id for _, passage_id in best]))
    )
    by_id = {row[0]: row for row in found}
    return [
        Hit(passage_id, row[1], row[2], row[3], row[4], score)
        for score, passage_id in best
        if (row := by_id.get(passage_id)) is not None
    ]
