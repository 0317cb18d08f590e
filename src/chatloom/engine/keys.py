"""API-key verification and administration (used by the API for auth and by the CLI).

Public keys open web chat only; `normalize_origin` is the one spelling of an origin that both key
creation and request checks use.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from chatloom.domain.errors import InvalidRequest, NotFound
from chatloom.store import assistants, orgs
from chatloom.store.db import Database
from chatloom.store.orgs import ApiKeyInfo, KeyAccess

__all__ = ["ApiKeyInfo", "KeyAccess", "KeyVerifier", "normalize_origin"]

DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_origin(origin: str) -> str:
    """`scheme://host[:port]`, lower-cased and without a default port; raises InvalidRequest for
    anything else (a path, a query, a scheme other than http/https)."""
    text = origin.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise InvalidRequest(f"origin '{origin}' is not a valid origin", field="origin") from None
    if parts.scheme.lower() not in DEFAULT_PORTS or not parts.hostname:
        raise InvalidRequest(
            f"origin '{origin}' must look like https://shop.example (http or https, a host)", field="origin"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        raise InvalidRequest(
            f"origin '{origin}' must be only scheme://host[:port], without a path", field="origin"
        )
    scheme, host = parts.scheme.lower(), parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


class KeyVerifier:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def access_for_key(self, key: str) -> KeyAccess | None:
        async with self.db.read() as conn:
            return await orgs.access_for_key(conn, key)

    async def org_for_key(self, key: str) -> str | None:
        access = await self.access_for_key(key)
        return access.org_id if access is not None else None

    async def create(
        self,
        org_name: str,
        key_name: str | None = None,
        *,
        public: bool = False,
        origins: Sequence[str] = (),
        assistant_ids: Sequence[str] = (),
    ) -> tuple[str, str]:
        """Creates the org if needed and a new key for it; returns (org id, plaintext key)."""
        if not public and (origins or assistant_ids):
            raise InvalidRequest("origins and assistants restrict public keys only", field="public")
        normalized = [normalize_origin(origin) for origin in origins]
        async with self.db.write() as conn:
            org_id = await orgs.ensure_org(conn, org_name)
            for assistant_id in assistant_ids:
                if await assistants.get(conn, org_id, assistant_id) is None:
                    raise NotFound(f"Assistant {assistant_id} not found in org '{org_name}'")
            key = await orgs.create_key(
                conn, org_id, key_name, public=public, origins=normalized, assistant_ids=assistant_ids
            )
        return org_id, key

    async def list(self, org_name: str | None = None) -> list[ApiKeyInfo]:
        async with self.db.read() as conn:
            return await orgs.list_keys(conn, org_name)

    async def revoke(self, key_id_or_prefix: str) -> int:
        async with self.db.write() as conn:
            return await orgs.revoke_key(conn, key_id_or_prefix)
