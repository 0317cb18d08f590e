"""Usage limits per API key or per org: one row per subject ("key:<id>" / "org:<id>"), None = no limit."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from chatloom.store.tables import usage_limits


@dataclass(frozen=True, slots=True)
class UsageLimits:
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    usd_per_day: float | None = None
    usd_per_month: float | None = None

    def public(self) -> dict[str, Any]:
        """The API's shape: camelCase, null for no limit."""
        return {
            "requestsPerMinute": self.requests_per_minute,
            "tokensPerMinute": self.tokens_per_minute,
            "usdPerDay": self.usd_per_day,
            "usdPerMonth": self.usd_per_month,
        }


NO_LIMITS = UsageLimits()
LIMIT_FIELDS = tuple(field.name for field in fields(UsageLimits))


async def read(conn: AsyncConnection, subjects: list[str]) -> dict[str, UsageLimits]:
    rows = (await conn.execute(select(usage_limits).where(usage_limits.c.subject.in_(subjects)))).all()
    return {row.subject: UsageLimits(*(getattr(row, name) for name in LIMIT_FIELDS)) for row in rows}


async def write(
    conn: AsyncConnection, subject: str, org_id: str, changes: dict[str, Any], now: datetime
) -> UsageLimits:
    """Sets the named limits of `subject` (a None value removes that limit); the others stay."""
    found = await read(conn, [subject])
    if subject in found:
        await conn.execute(
            update(usage_limits).where(usage_limits.c.subject == subject).values(**changes, updated_at=now)
        )
    else:
        await conn.execute(
            usage_limits.insert().values(subject=subject, org_id=org_id, **changes, updated_at=now)
        )
    return (await read(conn, [subject]))[subject]


async def subject_of_key(conn: AsyncConnection, key_id_or_prefix: str) -> tuple[str, str] | None:
    """("key:<id>", org id) of the key with this id or display prefix, if there is one."""
    from chatloom.store.tables import api_keys

    condition = (api_keys.c.id == key_id_or_prefix) | (api_keys.c.prefix == key_id_or_prefix)
    rows = (await conn.execute(select(api_keys.c.id, api_keys.c.org_id).where(condition))).all()
    return (f"key:{rows[0].id}", rows[0].org_id) if len(rows) == 1 else None


async def subject_of_org(conn: AsyncConnection, org_name: str) -> tuple[str, str] | None:
    from chatloom.store.tables import orgs

    org_id = (await conn.execute(select(orgs.c.id).where(orgs.c.name == org_name))).scalar_one_or_none()
    return (f"org:{org_id}", str(org_id)) if org_id is not None else None
