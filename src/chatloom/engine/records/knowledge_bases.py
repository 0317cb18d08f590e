"""Knowledge bases (`/v2/knowledge-base`), their files, and the files query tools list.

Creating a knowledge base stores it and the one `knowledgeBase` tool that searches it, in one transaction;
deleting it deletes both and its file links. Attaching a file links it (`indexing`) and queues its
indexing (`INDEX_JOB`) in the same transaction; a file still `processing` is indexed once parsed
(`file_parsed`, FileRecords' callback); a file another knowledge base already has indexed is `ready` at
once. Query tools' `fileIds` are mirrored as links owned by the tool (`tool_saved`), so their files are
indexed the same way.

Passages belong to the file (source id = file id) and are shared by every knowledge base using it:
detaching a file or deleting a knowledge base leaves them, so attaching the file again is immediate;
they are deleted with the file (`FileRecords.delete`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from chatloom.domain.errors import InvalidRequest, NotFound
from chatloom.domain.ids import iso, new_id, utc_now
from chatloom.store import files as files_store
from chatloom.store import jobs
from chatloom.store import knowledge_bases as store
from chatloom.store import tools as tools_store
from chatloom.store.db import Database
from chatloom.store.documents import Document, ListQuery
from chatloom.store.knowledge_bases import MAX_FILES_PER_OWNER, FileLink

INDEX_JOB = "knowledge.index"
"""The background job that indexes one file for the knowledge bases using it; keyed per cause."""
KNOWLEDGE_BASE_TOOL = "knowledgeBase"
OWN_RETRIEVAL = "google"
"""The query-tool knowledge-base provider Vapi writes for its file knowledge bases: chatloom's retrieval."""
STORED_FIELDS = ("id", "orgId", "createdAt", "updatedAt")
_NOT_A_NAME_CHAR = re.compile(r"[^a-z0-9_-]")


def tool_function(name: str, description: str | None) -> dict[str, str]:
    """The function a knowledge base's tool is offered as: `search_<name>`, valid for every provider."""
    about = f" ({description})" if description else ""
    return {
        "name": _NOT_A_NAME_CHAR.sub("_", f"search_{name}".lower())[:64],
        "description": f"Searches the knowledge base '{name}'{about} and answers with its best passages.",
    }


def query_tool_files(tool: Mapping[str, Any]) -> list[str]:
    """The file ids a query tool's own-retrieval knowledge bases list (each once)."""
    found: list[str] = []
    for base in tool.get("knowledgeBases") or []:
        if isinstance(base, dict) and base.get("provider") == OWN_RETRIEVAL:
            found.extend(str(file_id) for file_id in base.get("fileIds") or [])
    return list(dict.fromkeys(found))


class KnowledgeBaseRecords:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.job_queued: Callable[[], None] = lambda: None
        """Called after a commit that queued indexing (the server wakes its job runner)."""

    def _not_found(self, base_id: str) -> NotFound:
        return NotFound(f"Knowledge base {base_id} not found")

    # --- the knowledge bases ---------------------------------------------------------------------------

    async def create(self, org_id: str, fields: dict[str, Any]) -> Document:
        base_id, tool_id, now = new_id(), new_id(), utc_now()
        name, description = str(fields["name"]), fields.get("description")
        tool = {
            "type": KNOWLEDGE_BASE_TOOL,
            "knowledgeBaseId": base_id,
            "function": tool_function(name, description),
        }
        body = {**fields, "toolId": tool_id}
        async with self.db.write(starts_with_write=True) as conn:
            await store.insert_base(conn, org_id, base_id, body, now)
            await tools_store.insert(conn, org_id, tool_id, tool, now)
        stamps = {"createdAt": iso(now), "updatedAt": iso(now)}
        return {"id": base_id, "orgId": org_id, **body, **stamps, "files": []}

    async def _base(self, conn: AsyncConnection, org_id: str, base_id: str) -> Document:
        document = await store.get(conn, org_id, base_id)
        if document is None:
            raise self._not_found(base_id)
        return document

    async def get(self, org_id: str, base_id: str) -> Document:
        """The knowledge base with its files (`KnowledgeBaseV2WithFiles`)."""
        async with self.db.read() as conn:
            document = await self._base(conn, org_id, base_id)
            document["files"] = await self._files(conn, org_id, base_id)
        document.setdefault("toolId", None)
        return document

    async def list_all(self, org_id: str, query: ListQuery) -> list[Document]:
        async with self.db.read() as conn:
            return (await store.list_(conn, org_id, query)).items

    async def update(self, org_id: str, base_id: str, changes: dict[str, Any]) -> Document:
        """Replaces `name` and `description` (the tool keeps its name: assistants call it by it)."""
        now = utc_now()
        async with self.db.write() as conn:
            stored = await self._base(conn, org_id, base_id)
            fields = {k: v for k, v in stored.items() if k not in STORED_FIELDS}
            fields.update(changes)
            if fields.get("description") is None:
                fields.pop("description", None)
            document = {"id": base_id, "orgId": org_id, **fields, "createdAt": stored["createdAt"]}
            await store.replace(conn, org_id, base_id, document, now)
            document["files"] = await self._files(conn, org_id, base_id)
        document["updatedAt"] = iso(now)
        return document

    async def delete(self, org_id: str, base_id: str) -> Document:
        """Deletes the knowledge base, its tool and its file links (the files' passages stay theirs)."""
        async with self.db.write() as conn:
            document = await store.delete_base(conn, org_id, base_id)
            if document is None:
                raise self._not_found(base_id)
            if document.get("toolId"):
                await tools_store.delete(conn, org_id, str(document["toolId"]))
            await store.remove_owner(conn, org_id, base_id)
        return document

    # --- their files -----------------------------------------------------------------------------------

    async def _files(self, conn: AsyncConnection, org_id: str, owner_id: str) -> list[Document]:
        found = await store.links(conn, org_id, owner_id)
        records = await files_store.get_many(conn, org_id, [link.file_id for link in found])
        return [with_file(link, records) for link in found]

    async def files(self, org_id: str, base_id: str) -> list[Document]:
        async with self.db.read() as conn:
            await self._base(conn, org_id, base_id)
            return await self._files(conn, org_id, base_id)

    async def attach(self, org_id: str, base_id: str, file_id: str) -> Document:
        """Links the org's file to the knowledge base and starts its indexing; an attached file is
        answered as it is."""
        async with self.db.write() as conn:
            await self._base(conn, org_id, base_id)
            link = await store.link(conn, org_id, base_id, file_id)
            if link is None:
                if await store.count_owner(conn, org_id, base_id) >= MAX_FILES_PER_OWNER:
                    raise InvalidRequest(
                        f"fileId: a knowledge base holds at most {MAX_FILES_PER_OWNER} files", field="fileId"
                    )
                link = await self._link(conn, org_id, base_id, file_id, "fileId")
            record = await files_store.get(conn, org_id, file_id)
        self.job_queued()
        return with_file(link, [record] if record else [])

    async def _link(
        self, conn: AsyncConnection, org_id: str, owner_id: str, file_id: str, field: str
    ) -> FileLink:
        """Links a file (held meanwhile, so its parse cannot finish unseen) and queues what it needs."""
        record = await files_store.get_for_update(conn, org_id, file_id)
        if record is None:
            raise InvalidRequest(f"{field}: file {file_id} not found", field=field)
        now, status = utc_now(), record.get("status")
        if status == "failed":
            reason = f"the file could not be read: {record.get('failedReason') or 'unknown reason'}"
            return await store.add_link(conn, org_id, owner_id, file_id, "failed", now, reason)
        if status == "done" and await store.has_ready(conn, org_id, file_id):
            return await store.add_link(conn, org_id, owner_id, file_id, "ready", now)
        link = await store.add_link(conn, org_id, owner_id, file_id, "indexing", now)
        if status == "done":
            await self._queue(conn, org_id, file_id, f"{file_id}:{link.id}")
        return link

    async def _queue(self, conn: AsyncConnection, org_id: str, file_id: str, key: str) -> None:
        payload = {"fileId": file_id}
        await jobs.enqueue(conn, kind=INDEX_JOB, key=key, payload=payload, org_id=org_id, now=utc_now())

    async def detach(self, org_id: str, base_id: str, file_id: str) -> Document:
        async with self.db.write() as conn:
            await self._base(conn, org_id, base_id)
            link = await store.link(conn, org_id, base_id, file_id)
            if link is None:
                raise NotFound(f"File {file_id} is not in knowledge base {base_id}")
            await store.remove_link(conn, org_id, base_id, file_id)
            record = await files_store.get(conn, org_id, file_id)
        return with_file(link, [record] if record else [])

    async def retry(self, org_id: str, base_id: str, file_id: str) -> Document:
        """Indexes a `failed` file again (parsing it again is a new upload's business)."""
        async with self.db.write() as conn:
            await self._base(conn, org_id, base_id)
            link = await store.link(conn, org_id, base_id, file_id)
            if link is None:
                raise NotFound(f"File {file_id} is not in knowledge base {base_id}")
            if link.status != "failed":
                raise InvalidRequest(
                    f"fileId: only a failed file can be retried (this one is {link.status})", field="fileId"
                )
            await store.remove_link(conn, org_id, base_id, file_id)
            link = await self._link(conn, org_id, base_id, file_id, "fileId")
            record = await files_store.get(conn, org_id, file_id)
        self.job_queued()
        return with_file(link, [record] if record else [])

    async def file_parsed(self, org_id: str, file_id: str) -> None:
        """FileRecords' callback: a parsed file that knowledge bases wait for is indexed."""
        async with self.db.write() as conn:
            if not await store.is_linked(conn, org_id, file_id):
                return
            await self._queue(conn, org_id, file_id, f"{file_id}:parsed")
        self.job_queued()

    # --- query tools' files ----------------------------------------------------------------------------

    async def check_query_tool(self, org_id: str, tool: Mapping[str, Any]) -> None:
        """Refuses a query tool whose knowledge bases list files the org does not have (a 400 naming the
        knowledge base)."""
        bases = [base for base in tool.get("knowledgeBases") or [] if isinstance(base, dict)]
        async with self.db.read() as conn:
            for index, base in enumerate(bases):
                wanted = [str(file_id) for file_id in base.get("fileIds") or []]
                found = {str(r["id"]) for r in await files_store.get_many(conn, org_id, wanted)}
                missing = next((file_id for file_id in wanted if file_id not in found), None)
                if missing is not None:
                    where = f"knowledgeBases[{index}].fileIds"
                    raise InvalidRequest(f"{where}: file {missing} not found", field=where)

    async def tool_saved(self, org_id: str, tool: Mapping[str, Any]) -> None:
        """Mirrors a stored query tool's files as its links (indexing the new ones)."""
        tool_id = str(tool["id"])
        wanted = query_tool_files(tool) if tool.get("type") == "query" else []
        async with self.db.write() as conn:
            present = {link.file_id for link in await store.links(conn, org_id, tool_id)}
            for file_id in present - set(wanted):
                await store.remove_link(conn, org_id, tool_id, file_id)
            for file_id in wanted:
                if file_id not in present:
                    await self._link(conn, org_id, tool_id, file_id, "knowledgeBases")
        self.job_queued()

    async def tool_deleted(self, org_id: str, tool_id: str) -> None:
        async with self.db.write() as conn:
            await store.remove_owner(conn, org_id, tool_id)

    # --- what a turn searches --------------------------------------------------------------------------

    async def ready_files(self, org_id: str, base_ids: Iterable[str]) -> list[str]:
        """The indexed files of the org's knowledge bases (another org's ids find nothing)."""
        async with self.db.read() as conn:
            return await store.ready_files(conn, org_id, list(base_ids))


def with_file(link: FileLink, records: Iterable[Document]) -> Document:
    """A link as `KnowledgeBaseV2File`, with its file's name, type and size."""
    document = link.document()
    record = next((r for r in records if r.get("id") == link.file_id), None)
    if record is not None:
        document["fileName"] = record.get("originalName") or record.get("name")
        document["mimetype"] = record.get("mimetype")
        document["bytes"] = record.get("bytes")
    return document
