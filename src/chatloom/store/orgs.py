"""Orgs and their API keys. Keys are random, shown once, and stored only as SHA-256 hashes.

A key is private (the whole API) or public (web chat only, safe to put in a page), and a public key may
be restricted to some origins and some assistants, and have an identity secret (stored sealed).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import orjson
from sqlalchemy import ColumnElement, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from chatloom.domain.ids import new_id, utc_now
from chatloom.store.tables import api_keys, orgs

KEY_PREFIX = "cl_"
PUBLIC_KEY_PREFIX = "cl_pub_"
PRIVATE, PUBLIC = "private", "public"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class KeyAccess:
    """What a valid key may do: its org, its kind, and (public keys) the origins and assistants it is
    restricted to (None: any) and its identity secret, still sealed (None: it has none)."""

    key_id: str
    org_id: str
    public: bool = False
    origins: frozenset[str] | None = None
    assistant_ids: frozenset[str] | None = None
    sealed_identity_secret: str | None = field(default=None, repr=False)


@dataclass(slots=True)
class ApiKeyInfo:
    id: str
    org_id: str
    org_name: str
    prefix: str
    name: str | None
    created_at: datetime
    revoked_at: datetime | None
    kind: str = PRIVATE
    origins: list[str] | None = None
    assistant_ids: list[str] | None = None
    has_identity_secret: bool = False


def _json_list(values: Sequence[str] | None) -> str | None:
    return orjson.dumps(sorted(set(values))).decode() if values else None


def _loaded(text: str | None) -> list[str] | None:
    return [str(value) for value in orjson.loads(text)] if text else None


async def ensure_org(conn: AsyncConnection, name: str) -> str:
    """The id of the org called `name`, created if it does not exist yet."""
    org_id = (await conn.execute(select(orgs.c.id).where(orgs.c.name == name))).scalar_one_or_none()
    if org_id is None:
        org_id = new_id()
        await conn.execute(insert(orgs).values(id=org_id, name=name, created_at=utc_now()))
    return str(org_id)


async def create_key(
    conn: AsyncConnection,
    org_id: str,
    name: str | None = None,
    *,
    public: bool = False,
    origins: Sequence[str] | None = None,
    assistant_ids: Sequence[str] | None = None,
    sealed_identity_secret: str | None = None,
) -> str:
    """A new key for the org; the plaintext is returned here and never stored. Restrictions and the
    identity secret apply to public keys only (a private key can do everything anyway)."""
    if not public and (origins or assistant_ids or sealed_identity_secret):
        raise ValueError("only public keys take origin or assistant restrictions or an identity secret")
    key = (PUBLIC_KEY_PREFIX if public else KEY_PREFIX) + secrets.token_urlsafe(32)
    await conn.execute(
        insert(api_keys).values(
            id=new_id(),
            org_id=org_id,
            key_hash=hash_key(key),
            # A public key's prefix shows a few more characters, past the longer "cl_pub_".
            prefix=key[:14] if public else key[:10],
            name=name,
            created_at=utc_now(),
            kind=PUBLIC if public else PRIVATE,
            allowed_origins=_json_list(origins),
            allowed_assistant_ids=_json_list(assistant_ids),
            identity_secret=sealed_identity_secret,
        )
    )
    return key


async def access_for_key(conn: AsyncConnection, key: str) -> KeyAccess | None:
    """What a valid (unrevoked) key may do, else None."""
    statement = select(
        api_keys.c.id,
        api_keys.c.org_id,
        api_keys.c.kind,
        api_keys.c.allowed_origins,
        api_keys.c.allowed_assistant_ids,
        api_keys.c.identity_secret,
    ).where(api_keys.c.key_hash == hash_key(key), api_keys.c.revoked_at.is_(None))
    row = (await conn.execute(statement)).first()
    if row is None:
        return None
    origins, assistant_ids = _loaded(row.allowed_origins), _loaded(row.allowed_assistant_ids)
    return KeyAccess(
        key_id=str(row.id),
        org_id=str(row.org_id),
        public=row.kind == PUBLIC,
        origins=frozenset(origins) if origins is not None else None,
        assistant_ids=frozenset(assistant_ids) if assistant_ids is not None else None,
        sealed_identity_secret=row.identity_secret,
    )


async def org_for_key(conn: AsyncConnection, key: str) -> str | None:
    """The org id a valid (unrevoked) key belongs to, else None."""
    access = await access_for_key(conn, key)
    return access.org_id if access is not None else None


async def list_keys(conn: AsyncConnection, org_name: str | None = None) -> list[ApiKeyInfo]:
    statement = (
        select(api_keys, orgs.c.name.label("org_name"))
        .join(orgs, orgs.c.id == api_keys.c.org_id)
        .order_by(orgs.c.name, api_keys.c.created_at)
    )
    if org_name is not None:
        statement = statement.where(orgs.c.name == org_name)
    return [
        ApiKeyInfo(
            id=row.id,
            org_id=row.org_id,
            org_name=row.org_name,
            prefix=row.prefix,
            name=row.name,
            created_at=row.created_at,
            revoked_at=row.revoked_at,
            kind=row.kind,
            origins=_loaded(row.allowed_origins),
            assistant_ids=_loaded(row.allowed_assistant_ids),
            has_identity_secret=row.identity_secret is not None,
        )
        for row in (await conn.execute(statement)).all()
    ]


def _named(key_id_or_prefix: str) -> ColumnElement[bool]:
    """The key with this id or display prefix, or this full key."""
    if key_id_or_prefix.startswith(KEY_PREFIX) and len(key_id_or_prefix) > 16:
        return api_keys.c.key_hash == hash_key(key_id_or_prefix)
    return (api_keys.c.id == key_id_or_prefix) | (api_keys.c.prefix == key_id_or_prefix)


async def revoke_key(conn: AsyncConnection, key_id_or_prefix: str) -> int:
    """Revokes the key with this id or display prefix (or full key); returns how many were revoked."""
    condition = _named(key_id_or_prefix)
    result = await conn.execute(
        update(api_keys).where(condition, api_keys.c.revoked_at.is_(None)).values(revoked_at=utc_now())
    )
    return int(result.rowcount)


async def set_identity_secret(conn: AsyncConnection, key_id_or_prefix: str, sealed: str | None) -> int:
    """Gives the active public key with this id or display prefix (or full key) this sealed identity
    secret, replacing any it had (None: removes it); returns how many keys changed."""
    result = await conn.execute(
        update(api_keys)
        .where(_named(key_id_or_prefix), api_keys.c.kind == PUBLIC, api_keys.c.revoked_at.is_(None))
        .values(identity_secret=sealed)
    )
    return int(result.rowcount)


async def sealed_identity_secrets(conn: AsyncConnection) -> list[tuple[str, str]]:
    """(key id, sealed identity secret) of every key that has one, revoked keys included."""
    statement = select(api_keys.c.id, api_keys.c.identity_secret).where(
        api_keys.c.identity_secret.is_not(None)
    )
    return [(str(row.id), str(row.identity_secret)) for row in (await conn.execute(statement)).all()]


async def any_identity_secret(conn: AsyncConnection) -> str | None:
    """One stored sealed identity secret (to check at start-up that the secret key opens them)."""
    statement = select(api_keys.c.identity_secret).where(api_keys.c.identity_secret.is_not(None)).limit(1)
    found = (await conn.execute(statement)).scalar_one_or_none()
    return str(found) if found is not None else None


async def reseal_identity_secret(conn: AsyncConnection, key_id: str, before: str, after: str) -> bool:
    """Replaces a key's sealed identity secret by `after` (the same secret sealed anew) if it is still
    `before`; False when it changed meanwhile."""
    result = await conn.execute(
        update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.identity_secret == before)
        .values(identity_secret=after)
    )
    return int(result.rowcount) == 1
