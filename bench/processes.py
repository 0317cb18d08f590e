"""The benchmark's child processes (the fake LLM, `chatloom serve`), their CPU time read from /proc, and a
throwaway PostgreSQL database. Everything listens on 127.0.0.1 only; every child is stopped by its own pid.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
LOOPBACK = "127.0.0.1"
PG_HOST, PG_PORT, PG_USER = LOOPBACK, 5432, "postgres"


class BenchSetupError(RuntimeError):
    """A child process or database could not be set up; the message says which and why."""


class PostgresUnavailable(BenchSetupError):
    """No PostgreSQL answers on 127.0.0.1:5432 (or it refuses to create a database): skip that backend."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _stat_fields(pid: int | str) -> list[str]:
    """Fields of /proc/<pid>/stat after the `(comm)` field, so index 0 is field 3 (`state`)."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    return raw[raw.rindex(")") + 2 :].split()


def process_cpu_seconds(pid: int) -> float:
    """The CPU time of a process's live threads, in seconds, to the nanosecond: the sum of their
    `/proc/<pid>/task/<tid>/schedstat` run times (user + system). `/proc/<pid>/stat` counts in clock
    ticks (10 ms), too coarse to measure a turn or a slice of ten; it is the fallback where schedstat is
    missing."""
    total = 0
    try:
        for task in os.scandir(f"/proc/{pid}/task"):
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # a thread that just ended
                total += int(Path(task.path, "schedstat").read_text().split()[0])
    except FileNotFoundError:
        total = 0
    if total:
        return total / 1e9
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def postgres_cpu_seconds(database: str) -> float:
    """CPU of the PostgreSQL backends serving `database` plus the cluster's shared processes (postmaster,
    WAL writer, checkpointer, ...); other databases' backends on the same cluster are left out. From
    each process's schedstat (nanoseconds)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "postgres":
                continue
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            nanoseconds = int((entry / "schedstat").read_text().split()[0])  # one thread per backend
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        is_client_backend = "(" in title or "[local]" in title
        if is_client_backend and f" {database} " not in title:
            continue
        total += nanoseconds
    return total / 1e9


def executable(name: str) -> str:
    """A console script of this virtualenv (next to the running interpreter), else `.venv/bin/<name>`."""
    sibling = Path(sys.executable).with_name(name)
    if sibling.exists():
        return str(sibling)
    local = Path(".venv/bin") / name
    if local.exists():
        return str(local)
    raise BenchSetupError(f"cannot find the `{name}` command; run `make install-test` first")


@dataclass
class Child:
    """A child process whose output goes to a log file (shown when it fails)."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.process.pid)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no output)"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def spawn(name: str, command: list[str], env: Mapping[str, str], workdir: Path) -> Child:
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=dict(env), stdout=log, stderr=subprocess.STDOUT)
    return Child(name, process, log_path)


def wait_until_answering(child: Child, url: str, timeout_seconds: float = 60.0) -> None:
    """Polls `url` until any HTTP answer arrives (even an error status); fails if the child exits."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, OSError):
            pass
        if child.process.poll() is not None:
            raise BenchSetupError(f"{child.name} exited with {child.process.returncode}:\n{child.log_tail()}")
        if time.monotonic() > deadline:
            child.stop()
            raise BenchSetupError(f"{child.name} did not answer at {url}:\n{child.log_tail()}")
        time.sleep(0.05)


def start_fake_llm(workdir: Path) -> tuple[Child, str]:
    """`python -m chatloom.testing.fake_llm` on a free port; returns it and its OpenAI base URL."""
    port = free_port()
    command = [sys.executable, "-m", "chatloom.testing.fake_llm", "--host", LOOPBACK, "--port", str(port)]
    child = spawn("fake-llm", command, os.environ, workdir)
    wait_until_answering(child, f"http://{LOOPBACK}:{port}/")
    return child, f"http://{LOOPBACK}:{port}/v1"


def server_environment(database_url: str, llm_base_url: str) -> dict[str, str]:
    """The environment of the server and the CLI: no provider keys but the fake LLM's."""
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env.update(
        CHATLOOM_DATABASE_URL=database_url,
        OPENAI_API_KEY="x",
        OPENAI_BASE_URL=llm_base_url,
        CHATLOOM_LOG_LEVEL="warning",
        # Web turns are counted by the rate limiter as always, but never refused.
        CHATLOOM_WEB_RATE_PER_MINUTE="1000000000",
    )
    return env


def migrate(env: Mapping[str, str]) -> None:
    """`chatloom migrate` with the server's environment."""
    subprocess.run(
        [executable("chatloom"), "migrate"], env=dict(env), check=True, capture_output=True, timeout=300
    )


def create_key(env: Mapping[str, str], *options: str) -> str:
    """`chatloom keys create --org bench [options]`; the key is the last line of its output."""
    result = subprocess.run(
        [executable("chatloom"), "keys", "create", "--org", "bench", *options],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0 or not result.stdout.strip():
        output = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        raise BenchSetupError(f"`chatloom keys create` failed:\n{output}")
    return result.stdout.strip().splitlines()[-1]


def start_server(env: Mapping[str, str], workdir: Path, name: str) -> tuple[Child, str]:
    """`chatloom serve` (one process, uvicorn in it) on a free port; returns it and its root URL."""
    port = free_port()
    child = spawn(name, [executable("chatloom"), "serve", "--port", str(port)], env, workdir)
    url = f"http://{LOOPBACK}:{port}"
    wait_until_answering(child, f"{url}/health")
    return child, url


async def _admin(statement: str) -> str:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres", timeout=3)
    try:
        await conn.execute(statement)
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


@contextmanager
def postgresql_database() -> Iterator[tuple[str, str]]:
    """A new, empty database on 127.0.0.1:5432, dropped afterwards: (SQLAlchemy URL, server version).

    Raises PostgresUnavailable naming the reason when PostgreSQL is not reachable.
    """
    name = f"chatloom_bench_{uuid.uuid4().hex[:12]}"
    try:
        version = asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except Exception as error:
        reason = f"{type(error).__name__}: {error}"
        raise PostgresUnavailable(f"PostgreSQL at {PG_HOST}:{PG_PORT} is not usable ({reason})") from error
    try:
        yield f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}", version
    finally:
        for attempt in range(3):
            try:
                asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                break
            except Exception as error:
                if attempt == 2:
                    print(f"warning: could not drop database {name}: {error}", file=sys.stderr)
                time.sleep(0.5)
