"""Org credentials (`/credential`) and the credentials a turn may use.

Credentials are stored sealed (chatloom.vault): this module seals what clients send, opens what a turn
needs, and shows only hints. The opened credentials of an org are kept in memory for a short TTL and
dropped at once when this process changes them, so a turn of an org without credentials reads nothing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from chatloom.domain.errors import InvalidRequest
from chatloom.engine.records.documents import DocumentRecords
from chatloom.engine.records.redaction import public_credential
from chatloom.store import credentials as store
from chatloom.store import orgs
from chatloom.store.db import Database
from chatloom.store.documents import Document, ListQuery
from chatloom.vault.box import SecretBox, SecretKeyError
from chatloom.vault.sealed import open_, rotate_all, seal, sealed_tokens

MAX_ORGS_CACHED = 10_000
MAX_INLINE_OPENED = 10_000


class SecretsUnavailable(InvalidRequest):
    """Credentials were sent or are needed, and the server's secret key cannot serve them (HTTP 400)."""


def auth_headers(credential: Mapping[str, Any]) -> dict[str, str]:
    """The headers a credential adds to a request to a tool server, apiRequest URL or webhook: a
    `bearer` authentication plan (its `headerName`, `Bearer ` unless `bearerPrefixEnabled` is false),
    else its `apiKey` as a bearer token."""
    plan = credential.get("authenticationPlan")
    if isinstance(plan, Mapping) and plan.get("type") == "bearer" and isinstance(plan.get("token"), str):
        prefix = "Bearer " if plan.get("bearerPrefixEnabled", True) is not False else ""
        return {str(plan.get("headerName") or "Authorization"): prefix + plan["token"]}
    key = credential.get("apiKey")
    return {"Authorization": f"Bearer {key}"} if isinstance(key, str) and key else {}


@dataclass(slots=True, eq=False)
class TurnCredentials:
    """What one turn may use: the assistant's inline credentials, then the org's (narrowed to
    `credentialIds` when the assistant lists them, in that order; else newest first)."""

    inline: list[dict[str, Any]] = field(default_factory=list)
    org: list[dict[str, Any]] = field(default_factory=list)
    by_id: dict[str, dict[str, Any]] = field(default_factory=dict)

    def api_key(self, provider: str) -> str | None:
        """The key of the first credential for `provider` that has one."""
        for credential in (*self.inline, *self.org):
            key = credential.get("apiKey")
            if credential.get("provider") == provider and isinstance(key, str) and key:
                return key
        return None

    def headers_for(self, credential_id: Any, where: str) -> dict[str, str]:
        """The auth headers of the org credential `credential_id` (`where` names the field for errors)."""
        if not credential_id:
            return {}
        credential = self.by_id.get(str(credential_id))
        if credential is None:
            raise InvalidRequest(f"{where}: credential {credential_id} not found", field=where)
        return auth_headers(credential)


NO_CREDENTIALS = TurnCredentials()


class OrgCredentialCache:
    """The opened credentials of recently seen orgs (oldest first), for `ttl_seconds`."""

    def __init__(self, ttl_seconds: float) -> None:
        self.ttl_seconds = ttl_seconds
        self._entries: dict[str, tuple[float, list[dict[str, Any]]]] = {}

    def get(self, org_id: str) -> list[dict[str, Any]] | None:
        entry = self._entries.get(org_id)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            del self._entries[org_id]
            return None
        return entry[1]

    def put(self, org_id: str, opened: list[dict[str, Any]]) -> None:
        if self.ttl_seconds <= 0:
            return
        if len(self._entries) >= MAX_ORGS_CACHED:
            self._entries.clear()
        self._entries[org_id] = (time.monotonic() + self.ttl_seconds, opened)

    def forget(self, org_id: str, _credential_id: str = "") -> None:
        self._entries.pop(org_id, None)

    def forget_all(self) -> None:
        self._entries.clear()


class Credentials:
    """`/credential` CRUD, sealing of inline credentials, the credentials of a turn, and the start-up
    key check and rotation of everything stored sealed."""

    def __init__(self, db: Database, box: SecretBox, cache: OrgCredentialCache) -> None:
        self.db = db
        self.box = box
        self.cache = cache
        self.records = DocumentRecords(db, store.STORE, "Credential", cache.forget)
        self._opened_inline: dict[str, dict[str, Any]] = {}

    @classmethod
    def unkeyed(cls, db: Database, ttl_seconds: float = 2.0) -> Credentials:
        """Credentials without a secret key: org credentials and inline ones are refused."""
        return cls(db, SecretBox(None), OrgCredentialCache(ttl_seconds))

    async def check_key(self) -> None:
        """Refuses to start (SecretKeyError) when stored secrets (credentials, public keys' identity
        secrets) exist and the key cannot open them."""
        async with self.db.read() as conn:
            body = await store.any_sealed(conn)
            identity = await orgs.any_identity_secret(conn)
        if body is None and identity is None:
            return
        if not self.box.configured:
            raise SecretKeyError(
                "the database holds encrypted credentials but CHATLOOM_SECRET_KEY is not set: "
                "set it to the key they were stored with (make run keeps one in ./data/secret.key)"
            )
        tokens = list(sealed_tokens(orjson.loads(body))) if body is not None else []
        for token in [*tokens, *([identity] if identity is not None else [])]:
            self.box.decrypt(token)  # a wrong key raises SecretKeyError, naming the variable

    async def rotate(self, batch: int = 200) -> int:
        """Re-encrypts every stored secret (org credentials, inline credentials of assistants, sessions and
        chats, identity secrets of public keys) with the first key, and encrypts inline credentials stored
        in plaintext by versions before sealing; returns how many. Each batch of rows is one short
        transaction."""
        count = 0
        markers = (store.SEALED_MARKER, store.INLINE_MARKER)
        for table in store.SEALED_TABLES:
            after = ""
            while True:
                async with self.db.write() as conn:
                    rows = await store.sealed_rows(conn, table, after, batch, markers)
                    for row_id, body in rows:
                        rotated, found = rotate_all(self.box, orjson.loads(body))
                        rotated, newly = self._seal_plaintext(rotated)  # sealed with the first key
                        found += newly
                        if found:
                            await store.rewrite_body(conn, table, row_id, orjson.dumps(rotated).decode())
                            count += found
                if len(rows) < batch:
                    break
                after = rows[-1][0]
        self.cache.forget_all()
        return count + await self._rotate_identity_secrets()

    async def _rotate_identity_secrets(self) -> int:
        """Re-encrypts the identity secrets of API keys (a key's secret replaced meanwhile is left as is)."""
        async with self.db.read() as conn:
            stored = await orgs.sealed_identity_secrets(conn)
        count = 0
        for key_id, sealed in stored:
            async with self.db.write() as conn:
                count += await orgs.reseal_identity_secret(conn, key_id, sealed, self.box.rotate(sealed))
        return count

    def _seal_plaintext(self, document: Any) -> tuple[Any, int]:
        """An assistant, chat or session document with plaintext inline credentials sealed, and how many."""
        if not isinstance(document, dict):
            return document, 0
        count = 0
        for holder in (document, document.get("assistant"), document.get("assistantOverrides")):
            entries = holder.get("credentials") if isinstance(holder, dict) else None
            if not isinstance(entries, list):
                continue
            for index, entry in enumerate(entries):
                if isinstance(entry, Mapping) and "$sealed" not in entry:
                    sealed = self.seal(entry)
                    if "$sealed" in sealed:
                        entries[index] = sealed
                        count += 1
        return document, count

    # --- sealing and opening -------------------------------------------------------------------------

    def seal(self, entry: Mapping[str, Any], previous: Mapping[str, Any] | None = None) -> dict[str, Any]:
        try:
            return seal(self.box, entry, previous)
        except SecretKeyError as error:
            raise SecretsUnavailable(str(error), field="credentials") from None

    def open(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        try:
            return open_(self.box, entry)
        except SecretKeyError as error:
            raise SecretsUnavailable(str(error), field="credentials") from None

    def seal_assistant(
        self, assistant: dict[str, Any] | None, previous: Mapping[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """The assistant (or overrides) with its inline `credentials` sealed; a secret sent back as its
        hint keeps the value stored in `previous` for the same provider."""
        if assistant is None or not isinstance(assistant.get("credentials"), list):
            return assistant
        stored = [e for e in (previous or {}).get("credentials") or [] if isinstance(e, Mapping)]
        sealed = []
        for entry in assistant["credentials"]:
            if not isinstance(entry, Mapping):
                sealed.append(entry)
                continue
            before = next((e for e in stored if e.get("provider") == entry.get("provider")), None)
            sealed.append(self.seal(entry, before))
        return {**assistant, "credentials": sealed}

    def _open_inline(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        token = entry.get("$sealed")
        if not isinstance(token, str):
            return dict(entry)
        opened = self._opened_inline.get(token)
        if opened is None:
            opened = self.open(entry)
            if len(self._opened_inline) >= MAX_INLINE_OPENED:
                self._opened_inline.clear()
            self._opened_inline[token] = opened
        return opened

    # --- a turn's credentials ------------------------------------------------------------------------

    async def _org_credentials(self, org_id: str, refresh: bool = False) -> list[dict[str, Any]]:
        if not self.box.configured:
            return []  # without a key none can be stored (start-up refuses a database that holds some)
        opened = None if refresh else self.cache.get(org_id)
        if opened is None:
            async with self.db.read() as conn:
                stored = await store.all_of_org(conn, org_id)
            opened = [self.open(document) for document in stored]
            self.cache.put(org_id, opened)
        return opened

    async def for_turn(
        self, org_id: str, assistant: Mapping[str, Any], overrides: Mapping[str, Any] | None = None
    ) -> TurnCredentials:
        """The credentials of a turn; `assistantOverrides.credentials` come before the assistant's own,
        and its `credentialIds` replace the assistant's."""
        overrides = overrides or {}
        inline = [
            self._open_inline(entry)
            for source in (overrides, assistant)
            if isinstance(source.get("credentials"), list)
            for entry in source["credentials"]
            if isinstance(entry, Mapping)
        ]
        org = await self._org_credentials(org_id)
        ids = (
            overrides.get("credentialIds") if "credentialIds" in overrides else assistant.get("credentialIds")
        )
        wanted = [str(i) for i in ids or []]
        by_id = {str(credential["id"]): credential for credential in org}
        if any(i not in by_id for i in wanted):
            org = await self._org_credentials(org_id, refresh=True)  # made elsewhere within the TTL?
            by_id = {str(credential["id"]): credential for credential in org}
        if not inline and not org:
            if wanted:
                self._refuse_unknown(wanted, by_id)
            return NO_CREDENTIALS
        if wanted:
            self._refuse_unknown(wanted, by_id)
            usable = [by_id[i] for i in wanted]
        else:
            usable = list(reversed(org))
        return TurnCredentials(inline, usable, by_id)

    @staticmethod
    def _refuse_unknown(wanted: Sequence[str], by_id: Mapping[str, Any]) -> None:
        missing = next((i for i in wanted if i not in by_id), None)
        if missing is not None:
            raise InvalidRequest(f"credentialIds: credential {missing} not found", field="credentialIds")

    async def headers_for(self, org_id: str, credential_id: str, where: str) -> dict[str, str]:
        """The auth headers of one of the org's credentials (for webhooks, off the request path)."""
        org = await self._org_credentials(org_id)
        if not any(str(c["id"]) == credential_id for c in org):
            org = await self._org_credentials(org_id, refresh=True)
        return TurnCredentials(by_id={str(c["id"]): c for c in org}).headers_for(credential_id, where)

    async def org_api_key(self, org_id: str, provider: str) -> str | None:
        """The key of the org's newest credential for `provider` (work done for the org outside a turn,
        such as a knowledge base's embeddings)."""
        return TurnCredentials(org=list(reversed(await self._org_credentials(org_id)))).api_key(provider)

    async def check_ids(self, org_id: str, credential_ids: Any) -> None:
        """Refuses `credentialIds` naming credentials the org does not have."""
        if credential_ids:
            wanted = [str(i) for i in credential_ids]
            org = await self._org_credentials(org_id, refresh=True)
            self._refuse_unknown(wanted, {str(c["id"]): c for c in org})

    # --- /credential ----------------------------------------------------------------------------------

    async def create(self, org_id: str, fields: dict[str, Any]) -> Document:
        return public_credential(await self.records.create(org_id, self.seal(fields)))

    async def get(self, org_id: str, credential_id: str) -> Document:
        return public_credential(await self.records.get(org_id, credential_id))

    async def list(self, org_id: str, query: ListQuery) -> list[Document]:
        return [public_credential(document) for document in await self.records.list(org_id, query)]

    async def update(self, org_id: str, credential_id: str, changes: dict[str, Any]) -> Document:
        def revise(stored: Document) -> dict[str, Any]:
            current = {k: v for k, v in stored.items() if k not in ("id", "orgId", "createdAt", "updatedAt")}
            provider = changes.get("provider", current["provider"])
            if provider != current["provider"]:
                raise InvalidRequest(
                    f"provider: a {current['provider']} credential cannot become {provider}; "
                    "create a new credential instead",
                    field="provider",
                )
            return self.seal({**self.open(current), **changes}, previous=current)

        return public_credential(await self.records.update(org_id, credential_id, revise))

    async def delete(self, org_id: str, credential_id: str) -> Document:
        return public_credential(await self.records.delete(org_id, credential_id))
