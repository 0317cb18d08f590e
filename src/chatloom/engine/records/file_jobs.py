"""The background job of uploaded files: extracting a file's text (`files.parse`).

The handler reads the file's content, extracts its text in the killable worker process
(`files/worker.py`) and records the outcome through `FileRecords.finish`. It is idempotent: a file no
longer `processing` (or gone) is left alone, and a run after a crash stores the same text again. At most
`concurrency` workers run at once in this process (beside the job runner's own bound on jobs). A failure
of the server itself (the database, the storage) is raised, so the job is retried; on the job's last
attempt the file is marked `failed` instead of being left `processing`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from chatloom.engine.records.files import PARSE_JOB, FileRecords
from chatloom.files.worker import WorkerLimits, parse
from chatloom.store.jobs import Job

log = logging.getLogger("chatloom.files")


class FileJobs:
    def __init__(self, files: FileRecords, limits: WorkerLimits, concurrency: int, max_attempts: int) -> None:
        self.files = files
        self.limits = limits
        self.slots = asyncio.Semaphore(concurrency)
        self.max_attempts = max_attempts

    def handlers(self) -> dict[str, Any]:
        return {PARSE_JOB: self.parse}

    async def parse(self, job: Job) -> None:
        if job.org_id is None:
            return
        org_id, file_id = job.org_id, str(job.payload["fileId"])
        try:
            await self._parse(org_id, file_id)
        except Exception as error:
            if job.attempts < self.max_attempts:
                raise
            log.warning("file %s could not be parsed: %s", file_id, type(error).__name__)
            await self.files.finish(
                org_id, file_id, None, f"parsing failed on the server ({type(error).__name__})"
            )

    async def _parse(self, org_id: str, file_id: str) -> None:
        document = await self.files.find(org_id, file_id)
        if document is None or document.get("status") != "processing":
            return
        content = await self.files.content(org_id, file_id)
        if content is None:
            await self.files.finish(org_id, file_id, None, "the file's content is missing from the storage")
            return
        async with self.slots:
            outcome = await parse(content, str(document.get("originalName") or ""), self.limits)
        await self.files.finish(org_id, file_id, outcome.text, outcome.reason)
