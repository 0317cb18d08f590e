"""API-key verification and administration (used by the API for auth and by the CLI)."""

from __future__ import annotations

from chatloom.store import orgs
from chatloom.store.db import Database
from chatloom.store.orgs import ApiKeyInfo


class KeyVerifier:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def org_for_key(self, key: str) -> str | None:
        async with self.db.read() as conn:
            return await orgs.org_for_key(conn, key)

    async def create(self, org_name: str, key_name: str | None = None) -> tuple[str, str]:
        """Creates the org if needed and a new key for it; returns (org id, plaintext key)."""
        async with self.db.write() as conn:
            org_id = await orgs.ensure_org(conn, org_name)
            key = await orgs.create_key(conn, org_id, key_name)
        return org_id, key

    async def list(self, org_name: str | None = None) -> list[ApiKeyInfo]:
        async with self.db.read() as conn:
            return await orgs.list_keys(conn, org_name)

    async def revoke(self, key_id_or_prefix: str) -> int:
        async with self.db.write() as conn:
            return await orgs.revoke_key(conn, key_id_or_prefix)
