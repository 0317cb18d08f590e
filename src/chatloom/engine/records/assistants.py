"""Assistant CRUD: every change drops this process's cached copy; inline `credentials` are sealed before
they are stored (a secret sent back as its mask keeps the stored value) and shown masked;
`credentialIds` must name credentials of the caller's org."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from chatloom.engine.assistants.cache import AssistantCache
from chatloom.engine.records.documents import STORED_FIELDS, DocumentRecords
from chatloom.engine.records.redaction import public_assistant_document
from chatloom.store import assistants
from chatloom.store.db import Database
from chatloom.store.documents import Document


class AssistantSecrets(Protocol):
    """What assistant CRUD needs of the org's credentials (`access.credentials.Credentials` has it)."""

    async def check_ids(self, org_id: str, credential_ids: Any) -> None:
        """Refuses `credentialIds` naming credentials the org does not have."""
        ...

    def seal_assistant(
        self, assistant: dict[str, Any] | None, previous: Mapping[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """The assistant with its inline `credentials` sealed."""
        ...


class AssistantRecords(DocumentRecords):
    def __init__(self, db: Database, cache: AssistantCache, credentials: AssistantSecrets) -> None:
        super().__init__(db, assistants.STORE, "Assistant", cache.forget, public_assistant_document)
        self.credentials = credentials

    async def create(self, org_id: str, fields: dict[str, Any]) -> Document:
        await self.credentials.check_ids(org_id, fields.get("credentialIds"))
        sealed = self.credentials.seal_assistant(fields)
        assert sealed is not None
        return await super().create(org_id, sealed)

    async def merge(self, org_id: str, doc_id: str, changes: dict[str, Any]) -> Document:
        await self.credentials.check_ids(org_id, changes.get("credentialIds"))

        def merged(stored: Document) -> dict[str, Any]:
            fields = {**{k: v for k, v in stored.items() if k not in STORED_FIELDS}, **changes}
            if "credentials" not in changes:
                return fields
            sealed = self.credentials.seal_assistant(fields, previous=stored)
            assert sealed is not None
            return sealed

        return await self.update(org_id, doc_id, merged)
