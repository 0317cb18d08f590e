"""Wiring of uploaded files and the knowledge bases built from them: records, background jobs, search.

`build_files` makes the file records and their parsing jobs; `build_knowledge` the knowledge-base records,
their indexing jobs and the search the turn's tools use, and connects them: a file that finishes parsing
is indexed for the knowledge bases that wait for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from chatloom.config import Settings
from chatloom.engine.access.credentials import Credentials
from chatloom.engine.calls.file_knowledge import FileKnowledge
from chatloom.engine.calls.pricing import PriceBook
from chatloom.engine.records.file_jobs import FileJobs
from chatloom.engine.records.files import FileQuota, FileRecords
from chatloom.engine.records.knowledge_bases import KnowledgeBaseRecords
from chatloom.engine.records.knowledge_jobs import KnowledgeJobs
from chatloom.files.storage import DirectoryStorage
from chatloom.files.worker import WorkerLimits
from chatloom.providers.embeddings import Embeddings
from chatloom.providers.registry import ProviderRegistry
from chatloom.store.db import Database, default_files_dir


def build_files(settings: Settings, db: Database) -> tuple[FileRecords, FileJobs]:
    """Uploaded files, their content in a directory (CHATLOOM_FILES_DIR, else beside the database), and
    their parsing jobs."""
    quota = FileQuota(settings.max_file_bytes, settings.max_files_per_org, settings.max_file_bytes_per_org)
    records = FileRecords(
        db, DirectoryStorage(settings.files_dir or default_files_dir(settings.database_url)), quota
    )
    limits = WorkerLimits(
        settings.file_parse_seconds,
        settings.file_parse_memory_mb,
        settings.max_parsed_text_bytes,
        max_input_bytes=settings.max_file_bytes,
    )
    return records, FileJobs(records, limits, settings.file_parse_concurrency, settings.job_max_attempts)


@dataclass(frozen=True, slots=True)
class Knowledge:
    """Knowledge bases wired: their records, their indexing jobs, the search turns use, and the
    embeddings session (closed with the server; None when embeddings are off)."""

    records: KnowledgeBaseRecords
    jobs: KnowledgeJobs
    search: FileKnowledge
    embeddings: Embeddings | None


def build_knowledge(
    settings: Settings,
    db: Database,
    files: FileRecords,
    registry: ProviderRegistry,
    credentials: Credentials,
    prices: PriceBook,
) -> Knowledge:
    embeddings = Embeddings(registry) if settings.kb_embeddings else None
    search = FileKnowledge(db, credentials, embeddings, prices)
    records = KnowledgeBaseRecords(db)
    files.parsed = records.file_parsed
    jobs = KnowledgeJobs(db, files, search.embedder, settings.job_max_attempts)
    return Knowledge(records, jobs, search, embeddings)
