"""The server runs background jobs: started with the app, it runs its hourly purge (seen in GET /metrics and
in the jobs table) and stops with the app, leaving no job held. Each backend gets a database of its own, so
the purge of the current hour is this server's to run."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest

from chatloom.config import Settings
from chatloom.domain.ids import utc_now
from chatloom.jobs.recurring import Recurring
from chatloom.jobs.runner import PURGE_EVERY_SECONDS, PURGE_KIND
from chatloom.store.jobs import JobState
from tests.conftest import TEST_SECRET_KEY
from tests.support.databases import postgresql_url, sqlite_url
from tests.support.jobs import database, state
from tests.support.metrics import scrape, value
from tests.support.off_loop import run_coroutine
from tests.support.server import ServerThread


def fresh_database(backend: str, tmp_path: Path) -> AbstractContextManager[str]:
    if backend == "sqlite":
        return sqlite_url(tmp_path)
    return postgresql_url()


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    try:
        context = fresh_database(request.param, tmp_path)
        url = context.__enter__()
    except RuntimeError as error:
        pytest.skip(f"PostgreSQL leg skipped: {error}")
    try:
        yield url
    finally:
        context.__exit__(None, None, None)


def purge_row(url: str) -> JobState:
    duty = Recurring(PURGE_KIND, PURGE_EVERY_SECONDS)
    key = duty.key(duty.period_start(utc_now()))

    async def read() -> JobState:
        async with database(url) as db:
            return await state(db, PURGE_KIND, key)

    return run_coroutine(read)


def test_the_server_runs_its_jobs_and_stops_cleanly(fresh_url: str) -> None:
    settings = Settings(database_url=fresh_url, secret_key=TEST_SECRET_KEY, job_poll_seconds=0.05)
    server = ServerThread(settings).start()
    try:
        assert httpx.get(f"{server.url}/health", timeout=10).status_code == 200
        deadline = time.monotonic() + 20
        while not value(scrape(server.url), "chatloom_jobs_total", kind=PURGE_KIND, outcome="done"):
            assert time.monotonic() < deadline, "the server's job runner ran nothing"
            time.sleep(0.05)
    finally:
        server.stop()
    assert not server._thread.is_alive()
    found = purge_row(fresh_url)
    assert (found.status, found.job.attempts, found.lease_owner) == ("done", 1, None)
