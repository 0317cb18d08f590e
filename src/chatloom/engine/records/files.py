"""Uploaded files (`/file`): their records, their content in the file storage, and their extracted text.

A file's content is stored once, under its id; its extracted text under `<id>.txt`. An upload stores the
content first, then inserts the record and queues its parsing (`PARSE_JOB`) in one transaction, so a
record always has its content and a parse queued; the parse (`engine/records/file_jobs.py`) moves
`status` from `processing` to `done` (the text stored, `parsedTextBytes` set) or `failed` (`failedReason`
says why). Deleting a file removes its record, then its content and its text.

Every operation is scoped to the caller's org: another org's id is unknown here (`NotFound`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from chatloom.domain.errors import InvalidRequest, NotFound, TooLarge
from chatloom.domain.ids import iso, new_id, utc_now
from chatloom.files.storage import FileStorage, ObjectMissing, ObjectTooLarge
from chatloom.store import files, jobs, knowledge_bases, passages
from chatloom.store.db import Database
from chatloom.store.documents import Document, ListQuery

log = logging.getLogger("chatloom.files")

PARSE_JOB = "files.parse"
"""The background job that extracts a file's text; keyed by the file's id."""
STORED_FIELDS = ("id", "orgId", "createdAt", "updatedAt")
MAX_NAME_CHARS = 40
"""`File.name`'s limit in Vapi's schema; an upload's name is its original name cut to it."""


@dataclass(frozen=True, slots=True)
class FileQuota:
    """What one org may keep, and the largest single file."""

    max_file_bytes: int
    max_files: int
    max_bytes: int


@dataclass(frozen=True, slots=True)
class NewFile:
    """An upload as the API read it: its name and type as sent, its size, and its content in chunks."""

    original_name: str
    mimetype: str
    size: int
    content: AsyncIterable[bytes]
    purpose: str | None = None
    metadata: dict[str, Any] | None = None


def text_key(file_id: str) -> str:
    """The storage key of a file's extracted text (its content's key is its id)."""
    return f"{file_id}.txt"


ParsedCallback = Callable[[str, str], Awaitable[None]]


class FileRecords:
    def __init__(self, db: Database, storage: FileStorage, quota: FileQuota) -> None:
        self.db = db
        self.storage = storage
        self.quota = quota
        self.job_queued: Callable[[], None] = lambda: None
        """Called after a commit that queued a parse (the server wakes its job runner)."""
        self.parsed: ParsedCallback | None = None
        """Called with (org id, file id) once a file's text is stored and it is `done` (knowledge bases
        start indexing then). Its failure is logged; the file stays `done`."""

    def _not_found(self, file_id: str) -> NotFound:
        return NotFound(f"File {file_id} not found")

    def _check_quota(self, count: int, size: int, adding: int) -> None:
        if count + 1 > self.quota.max_files:
            raise InvalidRequest(
                f"file: an org can keep at most {self.quota.max_files} files; delete some first", field="file"
            )
        if size + adding > self.quota.max_bytes:
            raise TooLarge(
                f"file: an org can keep at most {self.quota.max_bytes} bytes of files ({size} are used); "
                "delete some first",
                field="file",
            )

    async def create(self, org_id: str, upload: NewFile) -> Document:
        """Stores the content, then the record and its parse; answers the record (`processing`)."""
        if upload.size > self.quota.max_file_bytes:
            raise TooLarge(f"file: larger than {self.quota.max_file_bytes} bytes", field="file")
        async with self.db.read() as conn:
            self._check_quota(*await files.usage(conn, org_id), upload.size)
        file_id, now = new_id(), utc_now()
        size = await self.storage.put(file_id, upload.content)
        document: Document = {
            "object": "file",
            "status": "processing",
            "name": upload.original_name[:MAX_NAME_CHARS],
            "originalName": upload.original_name,
            "bytes": size,
            "mimetype": upload.mimetype,
            "key": file_id,
        }
        if upload.purpose is not None:
            document["purpose"] = upload.purpose
        if upload.metadata is not None:
            document["metadata"] = upload.metadata
        try:
            async with self.db.write() as conn:
                self._check_quota(*await files.usage(conn, org_id), size)  # uploads finished meanwhile
                await files.insert(conn, org_id, file_id, document, now)
                await jobs.enqueue(
                    conn, kind=PARSE_JOB, key=file_id, payload={"fileId": file_id}, org_id=org_id, now=now
                )
        except BaseException:
            await self.storage.delete(file_id)
            raise
        self.job_queued()
        return {"id": file_id, "orgId": org_id, **document, "createdAt": iso(now), "updatedAt": iso(now)}

    async def find(self, org_id: str, file_id: str) -> Document | None:
        async with self.db.read() as conn:
            return await files.get(conn, org_id, file_id)

    async def get(self, org_id: str, file_id: str) -> Document:
        document = await self.find(org_id, file_id)
        if document is None:
            raise self._not_found(file_id)
        return document

    async def list(self, org_id: str, query: ListQuery) -> list[Document]:
        async with self.db.read() as conn:
            return (await files.list_(conn, org_id, query)).items

    async def _revise(
        self, org_id: str, file_id: str, revise: Callable[[Document], Document | None]
    ) -> Document | None:
        """`revise(stored fields)` saved over the record, the row held meanwhile; None when the record is
        gone or `revise` returns None (nothing to change)."""
        now = utc_now()
        async with self.db.write() as conn:
            stored = await files.get_for_update(conn, org_id, file_id)
            if stored is None:
                return None
            fields = revise({k: v for k, v in stored.items() if k not in STORED_FIELDS})
            if fields is None:
                return None
            document = {"id": file_id, "orgId": org_id, **fields, "createdAt": stored["createdAt"]}
            await files.replace(conn, org_id, file_id, document, now)
        document["updatedAt"] = iso(now)
        return document

    async def update(self, org_id: str, file_id: str, changes: dict[str, Any]) -> Document:
        """Replaces the given top-level fields (`name`, `metadata`: the API allows no others)."""

        def changed(stored: Document) -> Document:
            merged = {**stored, **changes}
            if merged.get("metadata") is None:  # null clears it
                merged.pop("metadata", None)
            return merged

        document = await self._revise(org_id, file_id, changed)
        if document is None:
            raise self._not_found(file_id)
        return document

    async def delete(self, org_id: str, file_id: str) -> Document:
        """Removes the record with its passages and its knowledge-base links, then the content and the
        text (a parse or an indexing running meanwhile finds no record and removes what it wrote)."""
        async with self.db.write() as conn:
            document = await files.delete(conn, org_id, file_id)
            if document is not None:
                await passages.delete_source(conn, org_id, file_id)
                await knowledge_bases.remove_file(conn, org_id, file_id)
        if document is None:
            raise self._not_found(file_id)
        await self.storage.delete(file_id)
        await self.storage.delete(text_key(file_id))
        return document

    async def content(self, org_id: str, file_id: str) -> bytes | None:
        """The content of the org's file, None when the file or its content is gone."""
        if await self.find(org_id, file_id) is None:
            return None
        try:
            return await self.storage.read(file_id, self.quota.max_file_bytes)
        except (ObjectMissing, ObjectTooLarge):
            return None

    async def parsed_text(self, org_id: str, file_id: str) -> str | None:
        """The extracted text of the org's file when it is `done`; None otherwise (unknown, another org's,
        still processing, failed)."""
        document = await self.find(org_id, file_id)
        if document is None or document.get("status") != "done":
            return None
        try:
            data = await self.storage.read(text_key(file_id), int(document.get("parsedTextBytes") or 0))
        except (ObjectMissing, ObjectTooLarge):
            return None
        return data.decode("utf-8", "replace")

    async def finish(self, org_id: str, file_id: str, text: str | None, reason: str | None) -> bool:
        """Records a parse's outcome: the text stored and `done`, or `failed` with `reason`. Only a file
        still `processing` changes (a parse that runs again changes nothing more); False when none did."""
        encoded = text.encode("utf-8", "replace") if text is not None else None
        if encoded is not None:
            await self.storage.put(text_key(file_id), encoded)

        def outcome(stored: Document) -> Document | None:
            if stored.get("status") != "processing":
                return None
            if encoded is not None:
                return {**stored, "status": "done", "parsedTextBytes": len(encoded)}
            return {**stored, "status": "failed", "failedReason": (reason or "the file cannot be read")[:500]}

        document = await self._revise(org_id, file_id, outcome)
        if document is None:
            if await self.find(org_id, file_id) is None:  # deleted meanwhile: no text left behind
                await self.storage.delete(text_key(file_id))
            return False
        if document["status"] == "done" and self.parsed is not None:
            try:
                await self.parsed(org_id, file_id)
            except Exception:
                log.exception("the parsed-file callback failed for file %s", file_id)
        return True
