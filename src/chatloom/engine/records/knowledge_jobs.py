"""The background job of knowledge bases: indexing one file (`knowledge.index`) for every knowledge base
(or query tool) that uses it.

The handler reads the file's extracted text, cuts it into passages and embeds them with the org's embedder
(`EmbedderFor`), then marks the file's links `ready`. It is idempotent: the passages are
replaced whole and only passages without a vector of the model are embedded. A file still `processing` is
left for the job its parse queues; a file that failed parsing, or whose indexing failed on the job's last
attempt, makes its links `failed` with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from chatloom.domain.ids import utc_now
from chatloom.engine.records.files import FileRecords
from chatloom.engine.records.knowledge_bases import INDEX_JOB
from chatloom.providers.embeddings import Embedder
from chatloom.retrieval.indexing import index_source
from chatloom.store import knowledge_bases as store
from chatloom.store import passages
from chatloom.store.db import Database
from chatloom.store.jobs import Job

log = logging.getLogger("chatloom.retrieval")

EmbedderFor = Callable[[str], Awaitable[Embedder | None]]
"""The embedder of an org's knowledge bases (`EmbedderFor`), None for full text only."""


class KnowledgeJobs:
    def __init__(
        self, db: Database, files: FileRecords, embedder_for: EmbedderFor, max_attempts: int
    ) -> None:
        self.db = db
        self.files = files
        self.embedder_for = embedder_for
        self.max_attempts = max_attempts

    def handlers(self) -> dict[str, Any]:
        return {INDEX_JOB: self.index}

    async def _mark(self, org_id: str, file_id: str, status: str, reason: str | None = None) -> None:
        async with self.db.write(starts_with_write=True) as conn:
            await store.set_status(conn, org_id, file_id, status, utc_now(), reason)

    async def index(self, job: Job) -> None:
        if job.org_id is None:
            return
        org_id, file_id = job.org_id, str(job.payload["fileId"])
        try:
            await self._index(org_id, file_id)
        except Exception as error:
            if job.attempts < self.max_attempts:
                raise
            log.warning("file %s could not be indexed: %s", file_id, type(error).__name__)
            await self._mark(org_id, file_id, "failed", f"indexing failed ({type(error).__name__})")

    async def _index(self, org_id: str, file_id: str) -> None:
        document = await self.files.find(org_id, file_id)
        if document is None or document.get("status") == "processing":
            return  # deleted, or its parse queues the indexing when it is done
        if document.get("status") == "failed":
            reason = document.get("failedReason") or "unknown reason"
            await self._mark(org_id, file_id, "failed", f"the file could not be read: {reason}")
            return
        text = await self.files.parsed_text(org_id, file_id)
        if text is None:
            await self._mark(org_id, file_id, "failed", "the file's extracted text is missing")
            return
        name = str(document.get("originalName") or document.get("name") or file_id)
        embedder = await self.embedder_for(org_id)
        await index_source(self.db, org_id, file_id, name, text, embedder=embedder)
        if await self.files.find(org_id, file_id) is None:  # deleted meanwhile: no passages left behind
            async with self.db.write(starts_with_write=True) as conn:
                await passages.delete_source(conn, org_id, file_id)
            return
        await self._mark(org_id, file_id, "ready")
