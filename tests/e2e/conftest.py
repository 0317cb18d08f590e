"""Fixtures of the end-to-end tests: a fresh database per test, on SQLite and on PostgreSQL, and the
`chatloom serve` processes a test starts, stopped after it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.databases import database_of_its_own
from tests.support.serve import ServeProcesses


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database_of_its_own(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def servers() -> Iterator[ServeProcesses]:
    """`servers.start(environment)`: a `chatloom serve` process answering /health; those still running
    after the test are stopped."""
    processes = ServeProcesses()
    try:
        yield processes
    finally:
        processes.close()
