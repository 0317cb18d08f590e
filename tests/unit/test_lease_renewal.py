"""Lease renewal on a real SQLite database: no statement for a turn shorter than the renewal interval,
renewals while a turn runs, none once it has ended (also by cancellation), and a lost lease noticed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select, update

from chatloom.domain.ids import new_id, utc_now
from chatloom.engine.access.keys import KeyVerifier
from chatloom.engine.records.leases import SessionLeases
from chatloom.store import sessions as session_rows
from chatloom.store.db import Database, create_engine, migrate
from chatloom.store.tables import sessions

LEASE_SECONDS = 0.6  # renewed every 0.2 s


@dataclass
class Setup:
    db: Database
    leases: SessionLeases
    org_id: str
    session_id: str
    renewals: list[str]

    async def lease_row(self) -> tuple[str | None, datetime | None]:
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(sessions.c.lease_owner, sessions.c.lease_until).where(
                        sessions.c.id == self.session_id
                    )
                )
            ).one()
        return row.lease_owner, row.lease_until


async def _open(tmp_path: Path) -> Setup:
    url = f"sqlite+aiosqlite:///{tmp_path / 'leases.db'}"
    await asyncio.to_thread(migrate, url)
    db = Database(create_engine(url, pool_size=2))
    org_id, _ = await KeyVerifier(db).create("lease-org")
    session_id, now = new_id(), utc_now()
    async with db.write() as conn:
        await session_rows.insert(
            conn, org_id, session_id, {"messages": []}, [], now, now.replace(year=now.year + 1)
        )
    renewals: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("UPDATE sessions SET lease_until"):
            renewals.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    return Setup(db, SessionLeases(db, LEASE_SECONDS, wait_seconds=5), org_id, session_id, renewals)


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the renewal never came")


def run_with(tmp_path: Path, scenario: Callable[[Setup], Awaitable[None]]) -> None:
    """Runs `scenario` on its own event loop against a fresh database with one session."""

    async def main() -> None:
        setup = await _open(tmp_path)
        try:
            await scenario(setup)
        finally:
            await setup.db.dispose()

    asyncio.run(main())


def test_a_short_turn_costs_no_renewal(tmp_path: Path) -> None:
    run_with(tmp_path, _a_short_turn_costs_no_renewal)


async def _a_short_turn_costs_no_renewal(setup: Setup) -> None:
    owner = (await setup.leases.acquire(setup.org_id, setup.session_id)).owner
    renewal = setup.leases.keep(setup.org_id, setup.session_id, owner)
    await asyncio.sleep(LEASE_SECONDS / 6)
    await renewal.stop()
    await asyncio.sleep(LEASE_SECONDS / 2)
    assert setup.renewals == []


def test_a_long_turn_renews_until_it_stops(tmp_path: Path) -> None:
    run_with(tmp_path, _a_long_turn_renews_until_it_stops)


async def _a_long_turn_renews_until_it_stops(setup: Setup) -> None:
    owner = (await setup.leases.acquire(setup.org_id, setup.session_id)).owner
    _, first_until = await setup.lease_row()
    renewal = setup.leases.keep(setup.org_id, setup.session_id, owner)
    await asyncio.sleep(LEASE_SECONDS * 1.5)
    lease_owner, until = await setup.lease_row()
    assert lease_owner == owner and first_until is not None and until is not None and until > first_until
    assert until > utc_now(), "the lease is still held after outliving its first term"
    assert 2 <= len(setup.renewals) <= 6, setup.renewals
    await renewal.stop()
    made = len(setup.renewals)
    await asyncio.sleep(LEASE_SECONDS)
    assert len(setup.renewals) == made
    assert not renewal.lost


def test_renewals_end_when_the_turn_is_cancelled(tmp_path: Path) -> None:
    run_with(tmp_path, _renewals_end_when_the_turn_is_cancelled)


async def _renewals_end_when_the_turn_is_cancelled(setup: Setup) -> None:
    owner = (await setup.leases.acquire(setup.org_id, setup.session_id)).owner

    async def turn() -> None:
        renewal = setup.leases.keep(setup.org_id, setup.session_id, owner)
        try:
            await asyncio.sleep(60)
        finally:
            await renewal.stop()
            await setup.leases.release(setup.org_id, setup.session_id, owner)

    task = asyncio.create_task(turn())
    await until(lambda: bool(setup.renewals))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    made = len(setup.renewals)
    await asyncio.sleep(LEASE_SECONDS)
    assert len(setup.renewals) == made
    assert await setup.lease_row() == (None, None), "the cancelled turn released its lease"
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


def test_a_lost_lease_stops_the_renewals(tmp_path: Path) -> None:
    run_with(tmp_path, _a_lost_lease_stops_the_renewals)


async def _a_lost_lease_stops_the_renewals(setup: Setup) -> None:
    owner = (await setup.leases.acquire(setup.org_id, setup.session_id)).owner
    renewal = setup.leases.keep(setup.org_id, setup.session_id, owner)
    async with setup.db.write() as conn:
        await conn.execute(update(sessions).values(lease_owner=new_id(), lease_until=utc_now()))
    await until(lambda: renewal.lost)
    made = len(setup.renewals)
    await asyncio.sleep(LEASE_SECONDS)
    assert len(setup.renewals) == made == 1
    await renewal.stop()
