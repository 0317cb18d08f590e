"""Orgs and their API keys. Keys are random, shown once, and stored only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from chatloom.domain.ids import new_id, utc_now
from chatloom.store.tables import api_keys, orgs

KEY_PREFIX = "cl_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(slots=True)
class ApiKeyInfo:
    id: str
    org_id: str
    org_name: str
    prefix: str
    name: str | None
    created_at: datetime
    revoked_at: datetime | None


async def ensure_org(conn: AsyncConnection, name: str) -> str:
    """The id of the org called `name`, created if it does not exist yet."""
    org_id = (await conn.execute(select(orgs.c.id).where(orgs.c.name == name))).scalar_one_or_none()
    if org_id is None:
        org_id = new_id()
        await conn.execute(insert(orgs).values(id=org_id, name=name, created_at=utc_now()))
    return str(org_id)


async def create_key(conn: AsyncConnection, org_id: str, name: str | None = None) -> str:
    """A new key for the org; the plaintext is returned here and never stored."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    await conn.execute(
        insert(api_keys).values(
            id=new_id(),
            org_id=org_id,
            key_hash=hash_key(key),
            prefix=key[:10],
            name=name,
            created_at=utc_now(),
        )
    )
    return key


async def org_for_key(conn: AsyncConnection, key: str) -> str | None:
    """The org id a valid (unrevoked) key belongs to, else None."""
    statement = select(api_keys.c.org_id).where(
        api_keys.c.key_hash == hash_key(key), api_keys.c.revoked_at.is_(None)
    )
    org_id = (await conn.execute(statement)).scalar_one_or_none()
    return str(org_id) if org_id is not None else None


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
        )
        for row in (await conn.execute(statement)).all()
    ]


async def revoke_key(conn: AsyncConnection, key_id_or_prefix: str) -> int:
    """Revokes the key with this id or display prefix (or full key); returns how many were revoked."""
    if key_id_or_prefix.startswith(KEY_PREFIX) and len(key_id_or_prefix) > 16:
        condition = api_keys.c.key_hash == hash_key(key_id_or_prefix)
    else:
        condition = (api_keys.c.id == key_id_or_prefix) | (api_keys.c.prefix == key_id_or_prefix)
    result = await conn.execute(
        update(api_keys).where(condition, api_keys.c.revoked_at.is_(None)).values(revoked_at=utc_now())
    )
    return int(result.rowcount)
