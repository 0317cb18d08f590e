"""Record operations outside a turn: document CRUD (tools; assistants build on it in assistants.py),
reading, listing or deleting chats, and their costs per day.

Each operation is one short transaction, scoped to the caller's org; a missing or foreign id raises
`NotFound`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from chatloom.domain.errors import NotFound
from chatloom.domain.ids import iso, new_id, utc_now
from chatloom.store import structured_outputs, tools
from chatloom.store.db import Database
from chatloom.store.documents import Document, DocumentStore, ListQuery, Page

STORED_FIELDS = ("id", "orgId", "createdAt", "updatedAt")


class DocumentRecords:
    """CRUD over one document store. Validation is the caller's: `update` applies a `revise` function to
    the stored document inside the write transaction, so a concurrent change is never lost."""

    def __init__(
        self,
        db: Database,
        store: DocumentStore,
        noun: str,
        changed: Callable[[str, str], None] | None = None,
        present: Callable[[Document], Document] | None = None,
    ) -> None:
        """`present` turns a stored document into what the API shows (e.g. secrets masked)."""
        self.db = db
        self.store = store
        self.noun = noun
        self.changed = changed or (lambda _org_id, _doc_id: None)
        self.present = present or (lambda document: document)

    def _not_found(self, doc_id: str) -> NotFound:
        return NotFound(f"{self.noun} {doc_id} not found")

    async def create(self, org_id: str, fields: dict[str, Any]) -> Document:
        """Stores a new document; an `id`, `orgId` or time in `fields` (an exported document) is replaced."""
        fields = {key: value for key, value in fields.items() if key not in STORED_FIELDS}
        doc_id, now = new_id(), utc_now()
        async with self.db.write(starts_with_write=True) as conn:
            await self.store.insert(conn, org_id, doc_id, fields, now)
        # A cache of the org's documents (its credentials) must see the new one at the next read.
        self.changed(org_id, doc_id)
        return self.present(
            {"id": doc_id, "orgId": org_id, **fields, "createdAt": iso(now), "updatedAt": iso(now)}
        )

    async def get(self, org_id: str, doc_id: str) -> Document:
        async with self.db.read() as conn:
            document = await self.store.get(conn, org_id, doc_id)
        if document is None:
            raise self._not_found(doc_id)
        return self.present(document)

    async def get_many(self, org_id: str, ids: Sequence[str]) -> list[Document]:
        """The org's documents among `ids`, in that order; unknown ids are left out for the caller."""
        async with self.db.read() as conn:
            documents = await self.store.get_many(conn, org_id, ids)
        return [self.present(document) for document in documents]

    async def update(
        self, org_id: str, doc_id: str, revise: Callable[[Document], dict[str, Any]]
    ) -> Document:
        """Replaces the document's fields with `revise(stored document)`; `revise` may raise to refuse."""
        now = utc_now()
        async with self.db.write() as conn:
            stored = await self.store.get(conn, org_id, doc_id)
            if stored is None:
                raise self._not_found(doc_id)
            fields = revise(stored)
            document = {"id": doc_id, "orgId": org_id, **fields, "createdAt": stored["createdAt"]}
            await self.store.replace(conn, org_id, doc_id, document, now)
        self.changed(org_id, doc_id)  # after the commit, so no reader can keep the old version
        document["updatedAt"] = iso(now)
        return self.present(document)

    async def merge(self, org_id: str, doc_id: str, changes: dict[str, Any]) -> Document:
        """`update` where the given top-level fields replace the stored ones."""

        def merged(stored: Document) -> dict[str, Any]:
            return {**{k: v for k, v in stored.items() if k not in STORED_FIELDS}, **changes}

        return await self.update(org_id, doc_id, merged)

    async def delete(self, org_id: str, doc_id: str) -> Document:
        async with self.db.write() as conn:
            document = await self.store.delete(conn, org_id, doc_id)
        self.changed(org_id, doc_id)
        if document is None:
            raise self._not_found(doc_id)
        return self.present(document)

    async def page(self, org_id: str, query: ListQuery) -> Page:
        """One page of documents and the total that match (for Vapi's paginated lists)."""
        async with self.db.read() as conn:
            found = await self.store.list_(conn, org_id, query, count=True)
        found.items = [self.present(document) for document in found.items]
        return found

    async def count(self, org_id: str) -> int:
        async with self.db.read() as conn:
            return await self.store.count(conn, org_id)

    async def list(self, org_id: str, query: ListQuery) -> list[Document]:
        async with self.db.read() as conn:
            documents = (await self.store.list_(conn, org_id, query)).items
        return [self.present(document) for document in documents]


def tool_records(db: Database) -> DocumentRecords:
    return DocumentRecords(db, tools.STORE, "Tool")


def structured_output_records(db: Database) -> DocumentRecords:
    return DocumentRecords(db, structured_outputs.STORE, "Structured output")
