"""The background jobs of artifacts: extracting a completed session's structured outputs, running one
output on a session (`POST /structured-output/run`), and completing sessions whose time ran out.

Each is idempotent, as a job whose process died mid-run runs again: an extraction rewrites the results
it saves, and expiry only completes sessions still active.
"""

from __future__ import annotations

import logging
from typing import Any

from chatloom.engine.artifacts.definitions import definition
from chatloom.engine.artifacts.session_artifacts import SessionArtifacts
from chatloom.engine.records.sessions import ARTIFACT_JOB, RUN_JOB, SessionRecords
from chatloom.store import structured_outputs
from chatloom.store.jobs import Job

log = logging.getLogger("chatloom.artifacts")

EXPIRY_JOB = "sessions.expire"
"""A recurring job: sessions whose time ran out are completed (and their artifacts queued)."""


MAX_EXPIRY_BATCHES = 20


class ArtifactJobs:
    def __init__(self, artifacts: SessionArtifacts, sessions: SessionRecords) -> None:
        self.artifacts = artifacts
        self.sessions = sessions

    def handlers(self) -> dict[str, Any]:
        return {ARTIFACT_JOB: self.extract, RUN_JOB: self.run_one, EXPIRY_JOB: self.expire}

    async def extract(self, job: Job) -> None:
        if job.org_id is None:
            return
        await self.artifacts.extract(job.org_id, str(job.payload["sessionId"]))

    async def run_one(self, job: Job) -> None:
        if job.org_id is None:
            return
        payload = job.payload
        output_id = payload.get("structuredOutputId")
        if output_id is not None:
            async with self.artifacts.db.read() as conn:
                document = await structured_outputs.get(conn, job.org_id, str(output_id))
            if document is None:
                log.info("structured output %s was deleted before its run", output_id)
                return
        else:
            document = dict(payload["structuredOutput"])
        await self.artifacts.extract(job.org_id, str(payload["sessionId"]), only=definition(document))

    async def expire(self, job: Job) -> None:
        for _ in range(MAX_EXPIRY_BATCHES):  # the rest waits for the next period
            if await self.sessions.expire_due() == 0:
                return
