"""A database URL per backend: a fresh SQLite file, or a throwaway PostgreSQL database.

PostgreSQL comes from the server on 127.0.0.1:5432 when one answers, else from a throwaway cluster
started with the installed binaries; when neither is possible the PostgreSQL leg is skipped, loudly.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import pytest

from tests.support.off_loop import run_coroutine

PG_HOST = os.environ.get("CHATLOOM_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("CHATLOOM_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("CHATLOOM_TEST_PG_USER", "postgres")


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def sqlite_url(directory: Path) -> Iterator[str]:
    yield f"sqlite+aiosqlite:///{directory / 'chatloom-test.db'}"


@contextmanager
def _throwaway_cluster() -> Iterator[tuple[str, int]]:
    """Starts a private PostgreSQL cluster from the installed binaries (as user postgres when root)."""
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not binaries:
        raise RuntimeError("no PostgreSQL server on 127.0.0.1:5432 and no PostgreSQL binaries installed")
    bindir = Path(binaries[-1]).parent
    workdir = Path(tempfile.mkdtemp(prefix="chatloom-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    data = workdir / "data"
    subprocess.run(
        [*prefix, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *prefix,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            f"-p {port} -k {workdir} -h 127.0.0.1",
            "-l",
            str(workdir / "log"),
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield "127.0.0.1", port
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True
        )
        shutil.rmtree(workdir, ignore_errors=True)


async def _admin(host: str, port: int, statement: str) -> None:
    conn = await asyncpg.connect(host=host, port=port, user=PG_USER, database="postgres", timeout=5)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextmanager
def postgresql_url() -> Iterator[str]:
    """A URL of a new, empty database, dropped afterwards. Raises RuntimeError when impossible, or when
    the PostgreSQL leg is switched off with CHATLOOM_TEST_POSTGRES=off."""
    if os.environ.get("CHATLOOM_TEST_POSTGRES", "").lower() == "off":
        raise RuntimeError("switched off with CHATLOOM_TEST_POSTGRES=off")
    with _server() as (host, port):
        name = f"chatloom_test_{uuid.uuid4().hex[:12]}"
        run_coroutine(lambda: _admin(host, port, f'CREATE DATABASE "{name}"'))
        try:
            yield f"postgresql+asyncpg://{PG_USER}@{host}:{port}/{name}"
        finally:
            for _ in range(3):
                try:
                    run_coroutine(
                        lambda: _admin(host, port, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                    )
                    break
                except Exception:
                    time.sleep(0.5)


@contextmanager
def _server() -> Iterator[tuple[str, int]]:
    if _port_open(PG_HOST, PG_PORT):
        yield PG_HOST, PG_PORT
    else:
        with _throwaway_cluster() as address:
            yield address


@contextmanager
def database_of_its_own(kind: str, directory: Path) -> Iterator[str]:
    """A new database of `kind` ("sqlite": a file in `directory`; "postgresql": a fresh database), for
    tests that must not share one; the PostgreSQL leg is skipped where no server can be had."""
    if kind == "sqlite":
        with sqlite_url(directory) as url:
            yield url
        return
    try:
        context = postgresql_url()
        url = context.__enter__()
    except Exception as error:
        pytest.skip(f"PostgreSQL leg skipped: {error}")
    try:
        yield url
    finally:
        context.__exit__(None, None, None)
