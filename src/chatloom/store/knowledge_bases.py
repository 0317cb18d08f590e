"""Knowledge bases (`KnowledgeBaseV2`) and the files knowledge bases use, scoped to their org.

A knowledge base is a document like the others. Its files are rows of `knowledge_base_files`, keyed by
(owner, file): the owner is a v2 knowledge base or a query tool listing `fileIds`. A row's `status` is the
file's indexing as that owner sees it (`indexing`, `ready`, `failed` with a reason); indexing is per file,
so finishing it sets the status of every row of the file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from chatloom.domain.ids import iso, new_id
from chatloom.store.documents import DocumentStore
from chatloom.store.tables import knowledge_base_files, knowledge_bases

MAX_FILES_PER_OWNER = 1_000
"""Files one knowledge base (or query tool) may use: a search names at most as many sources."""


def _columns(document: Mapping[str, Any]) -> dict[str, Any]:
    return {"name": str(document["name"])}


STORE = DocumentStore(knowledge_bases, _columns)
insert_base, get, get_many, replace, delete_base, list_ = (
    STORE.insert,
    STORE.get,
    STORE.get_many,
    STORE.replace,
    STORE.delete,
    STORE.list_,
)


@dataclass(frozen=True, slots=True)
class FileLink:
    """One file of a knowledge base: the link's own id, and its indexing status."""

    id: str
    owner_id: str
    file_id: str
    status: str
    reason: str | None
    created_at: datetime
    updated_at: datetime

    def document(self) -> dict[str, Any]:
        """The `KnowledgeBaseV2File` fields the link holds (the file's own come from its record)."""
        found: dict[str, Any] = {
            "id": self.id,
            "knowledgeBaseV2Id": self.owner_id,
            "fileId": self.file_id,
            "status": self.status,
        }
        if self.reason:
            found["failedReason"] = self.reason
        return {**found, "createdAt": iso(self.created_at), "updatedAt": iso(self.updated_at)}


_LINKS = knowledge_base_files


def _link(row: Any) -> FileLink:
    return FileLink(row.id, row.owner_id, row.file_id, row.status, row.reason, row.created_at, row.updated_at)


async def links(conn: AsyncConnection, org_id: str, owner_id: str) -> list[FileLink]:
    """The owner's files, oldest link first."""
    statement = (
        select(_LINKS)
        .where(_LINKS.c.org_id == org_id, _LINKS.c.owner_id == owner_id)
        .order_by(_LINKS.c.created_at, _LINKS.c.file_id)
        .limit(MAX_FILES_PER_OWNER)
    )
    return [_link(row) for row in (await conn.execute(statement)).all()]


async def link(conn: AsyncConnection, org_id: str, owner_id: str, file_id: str) -> FileLink | None:
    statement = select(_LINKS).where(
        _LINKS.c.org_id == org_id, _LINKS.c.owner_id == owner_id, _LINKS.c.file_id == file_id
    )
    row = (await conn.execute(statement)).first()
    return _link(row) if row is not None else None


async def add_link(
    conn: AsyncConnection,
    org_id: str,
    owner_id: str,
    file_id: str,
    status: str,
    now: datetime,
    reason: str | None = None,
) -> FileLink:
    """Links a file to an owner (the caller checked that it is not linked yet)."""
    found = FileLink(new_id(), owner_id, file_id, status, reason, now, now)
    await conn.execute(
        insert(_LINKS).values(
            id=found.id,
            owner_id=owner_id,
            file_id=file_id,
            org_id=org_id,
            status=status,
            reason=reason,
            created_at=now,
            updated_at=now,
        )
    )
    return found


async def remove_link(conn: AsyncConnection, org_id: str, owner_id: str, file_id: str) -> bool:
    statement = delete(_LINKS).where(
        _LINKS.c.org_id == org_id, _LINKS.c.owner_id == owner_id, _LINKS.c.file_id == file_id
    )
    return bool((await conn.execute(statement)).rowcount)


async def remove_owner(conn: AsyncConnection, org_id: str, owner_id: str) -> None:
    """Forgets every file of an owner (a deleted knowledge base or query tool)."""
    await conn.execute(delete(_LINKS).where(_LINKS.c.org_id == org_id, _LINKS.c.owner_id == owner_id))


async def remove_file(conn: AsyncConnection, org_id: str, file_id: str) -> None:
    """Forgets a file in every knowledge base of its org (the file was deleted)."""
    await conn.execute(delete(_LINKS).where(_LINKS.c.org_id == org_id, _LINKS.c.file_id == file_id))


async def count_owner(conn: AsyncConnection, org_id: str, owner_id: str) -> int:
    """How many files the owner uses."""
    statement = select(func.count()).where(_LINKS.c.org_id == org_id, _LINKS.c.owner_id == owner_id)
    return int((await conn.execute(statement)).scalar_one())


async def has_ready(conn: AsyncConnection, org_id: str, file_id: str) -> bool:
    """Whether the file is indexed already (some link of it is `ready`)."""
    statement = (
        select(_LINKS.c.id)
        .where(_LINKS.c.org_id == org_id, _LINKS.c.file_id == file_id, _LINKS.c.status == "ready")
        .limit(1)
    )
    return (await conn.execute(statement)).first() is not None


async def is_linked(conn: AsyncConnection, org_id: str, file_id: str) -> bool:
    """Whether some knowledge base (or query tool) of the org uses the file."""
    statement = select(_LINKS.c.id).where(_LINKS.c.org_id == org_id, _LINKS.c.file_id == file_id).limit(1)
    return (await conn.execute(statement)).first() is not None


async def set_status(
    conn: AsyncConnection,
    org_id: str,
    file_id: str,
    status: str,
    now: datetime,
    reason: str | None = None,
    owner_id: str | None = None,
) -> None:
    """Sets the status of the file's links (of one owner only when `owner_id` is given)."""
    conditions = [_LINKS.c.org_id == org_id, _LINKS.c.file_id == file_id]
    if owner_id is not None:
        conditions.append(_LINKS.c.owner_id == owner_id)
    await conn.execute(
        update(_LINKS)
        .where(*conditions)
        .values(status=status, reason=reason and reason[:500], updated_at=now)
    )


async def ready_files(conn: AsyncConnection, org_id: str, owner_ids: Sequence[str]) -> list[str]:
    """The ids of the owners' files whose indexing is done."""
    if not owner_ids:
        return []
    statement = (
        select(_LINKS.c.file_id)
        .where(_LINKS.c.org_id == org_id, _LINKS.c.owner_id.in_(list(owner_ids)), _LINKS.c.status == "ready")
        .limit(MAX_FILES_PER_OWNER)
    )
    return list(dict.fromkeys(row.file_id for row in (await conn.execute(statement)).all()))
