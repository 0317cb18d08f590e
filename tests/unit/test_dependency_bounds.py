"""Canaries for upgrades: the installed packages satisfy pyproject.toml's ranges, and the private internals
of SQLAlchemy and aiosqlite that `store/sqlite_driver.py` relies on are all still there."""

from __future__ import annotations

import asyncio
import importlib
import logging
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from sqlalchemy.ext.asyncio import create_async_engine

from chatloom.store.sqlite_driver import TESTED_RANGES, OneHopDbapi, one_hop_dbapi, untested_release

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
DRIVER = "store/sqlite_driver.py"


def _declared() -> list[tuple[str, Requirement]]:
    """pyproject.toml's requirements, each with where it is declared (the project's own extras left out)."""
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    found = [("dependencies", Requirement(text)) for text in project["dependencies"]]
    for extra, texts in project["optional-dependencies"].items():
        found += [(f"optional-dependencies.{extra}", Requirement(text)) for text in texts]
    return [(where, each) for where, each in found if canonicalize_name(each.name) != "chatloom"]


@pytest.mark.parametrize(
    ("where", "requirement"), [pytest.param(*each, id=each[1].name) for each in _declared()]
)
def test_the_installed_release_is_in_the_declared_range(where: str, requirement: Requirement) -> None:
    if requirement.marker is not None and not requirement.marker.evaluate():
        pytest.skip(f"{requirement.name} is not for this environment ({requirement.marker})")
    try:
        installed = version(requirement.name)
    except PackageNotFoundError:
        assert where != "dependencies", f"{requirement.name} is not installed (pyproject.toml: {requirement})"
        pytest.skip(f"{requirement.name} ({where}) is not installed")
    assert requirement.specifier.contains(installed, prereleases=True), (
        f"{requirement.name} {installed} is installed, outside the range "
        f"'{requirement.specifier}' that pyproject.toml's {where} declares"
    )


@pytest.mark.parametrize("name", sorted(TESTED_RANGES))
def test_the_driver_is_tested_with_the_ranges_pyproject_declares(name: str) -> None:
    lowest, beyond = TESTED_RANGES[name]
    declared = {
        canonicalize_name(each.name): each.specifier for where, each in _declared() if where == "dependencies"
    }
    assert declared[canonicalize_name(name)] == SpecifierSet(f">={lowest},<{beyond}"), (
        f"pyproject.toml declares {name}{declared[canonicalize_name(name)]}, but {DRIVER} is tested with "
        f">={lowest},<{beyond} (TESTED_RANGES): keep the two the same"
    )


def test_releases_outside_the_tested_ranges_are_named() -> None:
    inside = {name: f"{lowest}.0" for name, (lowest, _beyond) in TESTED_RANGES.items()}
    assert untested_release(inside) is None
    for name, (lowest, beyond) in TESTED_RANGES.items():
        for outside in (beyond, f"{beyond}.0", f"{beyond}.0rc1", f"{beyond}.1", "99.0"):
            assert untested_release({**inside, name: outside}) == (
                f"{name} {outside} is outside the tested range >={lowest},<{beyond}"
            )
        major, minor = (int(part) for part in lowest.split("."))
        below = f"{major}.{minor - 1}.9" if minor else f"{major - 1}.99"
        assert untested_release({**inside, name: below}) is not None


def test_the_installed_releases_get_the_one_trip_driver(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="chatloom.store.sqlite"):
        assert isinstance(one_hop_dbapi(1000), OneHopDbapi)
    assert not caplog.records


# What sqlite_driver.py uses that SQLAlchemy and aiosqlite do not document: module attributes, then the
# attributes (methods, class attributes, slots) of SQLAlchemy's adapter classes and of aiosqlite's
# Connection. OneHopCursor sets the cursor's slots itself, and overrides `_async_soft_close` and
# `_cursor_cls`, which SQLAlchemy calls.
MODULE_INTERNALS = {
    "sqlalchemy.dialects.sqlite.aiosqlite": (
        "AsyncAdapt_aiosqlite_connection",
        "AsyncAdapt_aiosqlite_cursor",
        "AsyncAdapt_aiosqlite_dbapi",
    ),
    "sqlalchemy.util": ("EMPTY_DICT",),
    "sqlalchemy.util.concurrency": ("await_",),
}
CONNECTION_INTERNALS = ("_connection", "_execute_mutex", "_handle_exception", "_cursor_cls")
CURSOR_INTERNALS = (
    "_adapt_connection",
    "_connection",
    "_cursor",
    "_rows",
    "_soft_closed_memoized",
    "_async_soft_close",
)
AIOSQLITE_INTERNALS = ("_execute", "_conn", "_connection")


def test_the_sqlalchemy_internals_the_driver_uses_are_there() -> None:
    missing = [
        f"{module}.{name}"
        for module, names in MODULE_INTERNALS.items()
        for name in names
        if not hasattr(importlib.import_module(module), name)
    ]
    adapter = importlib.import_module("sqlalchemy.dialects.sqlite.aiosqlite")
    for owner, names in (
        ("AsyncAdapt_aiosqlite_connection", CONNECTION_INTERNALS),
        ("AsyncAdapt_aiosqlite_cursor", CURSOR_INTERNALS),
    ):
        cls = getattr(adapter, owner, None)
        missing += [f"{owner}.{name}" for name in names if cls is None or not hasattr(cls, name)]
    assert not missing, f"SQLAlchemy {version('sqlalchemy')} lacks what {DRIVER} relies on: " + ", ".join(
        missing
    )


def test_the_internals_are_there_on_live_connections() -> None:
    """SQLAlchemy's own adapter, on a real database: the attributes its connections and cursors carry,
    and aiosqlite's connection inside."""

    def inspect(sync_connection: Any) -> list[str]:
        adapted = sync_connection.connection.dbapi_connection
        cursor = adapted.cursor()
        try:
            missing = [f"connection.{name}" for name in CONNECTION_INTERNALS if not hasattr(adapted, name)]
            missing += [f"cursor.{name}" for name in CURSOR_INTERNALS if not hasattr(cursor, name)]
        finally:
            cursor.close()
        driver = adapted._connection
        if not isinstance(driver, aiosqlite.Connection):
            return [
                *missing,
                f"connection._connection is a {type(driver).__name__}, not aiosqlite's Connection",
            ]
        missing += [
            f"aiosqlite.Connection.{name}" for name in AIOSQLITE_INTERNALS if not hasattr(driver, name)
        ]
        if not callable(getattr(driver, "_execute", None)):
            missing.append("aiosqlite.Connection._execute (callable)")
        return missing

    async def main() -> list[str]:
        engine = create_async_engine("sqlite+aiosqlite://")
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(inspect)
        finally:
            await engine.dispose()

    missing = asyncio.run(main())
    assert not missing, (
        f"SQLAlchemy {version('sqlalchemy')} with aiosqlite {version('aiosqlite')} lacks what {DRIVER} "
        "relies on: " + ", ".join(missing)
    )
