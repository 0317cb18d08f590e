"""Cost analytics: chat costs summed per UTC day and per assistant or model, by SQL aggregation over
the chats table's own columns (no document is parsed), on SQLite and PostgreSQL alike."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import Date, cast, func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from chatloom.store.tables import chats

CostGroup = Literal["assistant", "model"]


@dataclass(frozen=True, slots=True)
class DailyCost:
    day: date
    group: str | None
    cost: float
    chats: int


def _utc_day(conn: AsyncConnection) -> ColumnElement[Any]:
    if conn.dialect.name == "sqlite":
        # Stored as naive UTC text ("YYYY-MM-DD HH:MM:SS..."): its first ten characters are the day.
        return func.substr(chats.c.created_at, 1, 10)
    return cast(func.timezone("UTC", chats.c.created_at), Date)


async def daily_costs(
    conn: AsyncConnection, org_id: str, since: datetime, group_by: CostGroup
) -> list[DailyCost]:
    """The org's chat costs and counts since `since`, per UTC day and group (None: no assistant or
    no model recorded); served by the (org_id, created_at) index."""
    day = _utc_day(conn).label("day")
    group = (chats.c.assistant_id if group_by == "assistant" else chats.c.model).label("grp")
    statement = (
        select(day, group, func.sum(chats.c.cost).label("cost"), func.count().label("chats"))
        .where(chats.c.org_id == org_id, chats.c.created_at >= since)
        .group_by(day, group)
    )
    rows = (await conn.execute(statement)).all()
    return [
        DailyCost(
            day=row.day if isinstance(row.day, date) else date.fromisoformat(str(row.day)),
            group=row.grp,
            cost=float(row.cost or 0.0),
            chats=int(row.chats),
        )
        for row in rows
    ]
