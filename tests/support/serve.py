"""The real `chatloom` command in end-to-end tests: `ServeProcess` starts `chatloom serve` the one way every
test does, and `cli` runs the other subcommands.

    with ServeProcess(environment) as server:      # started, and answering /health
        httpx.get(f"{server.url}/assistant", ...)
    # stopped (SIGTERM, uvicorn's graceful shutdown); server.output() still holds what it printed

Without `with`, the process starts at once and the test calls `wait_until_healthy()`, `stop()` or `kill()`
(SIGKILL, for the crash tests). `ServeProcesses` starts several and stops those left at its end: the
`servers` fixture of `tests/e2e/conftest.py` is one per test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType

import httpx

from tests.support.server import free_port

CHATLOOM = str(Path(sys.executable).with_name("chatloom"))
"""The `chatloom` command installed next to this interpreter."""


def cli(environment: Mapping[str, str], *args: str) -> str:
    """`chatloom *args` (not `serve`) run to its end; its stdout, after asserting it succeeded."""
    result = subprocess.run([CHATLOOM, *args], env=environment, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


class ServeProcess:
    """`chatloom serve --port P [--workers N]` on a free loopback port P, started at once with `environment`
    as its whole environment. Its stdout and stderr (and its workers') go to one anonymous file, read with
    `output()` at any time, also after the process ended."""

    def __init__(
        self, environment: Mapping[str, str], *, workers: int | None = None, health_timeout: float = 30.0
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.health_timeout = health_timeout
        command = [CHATLOOM, "serve", "--port", str(self.port)]
        if workers is not None:
            command += ["--workers", str(workers)]
        # A file, not a pipe: nobody reads while the test runs, and a full pipe would stall the server.
        self._capture = tempfile.TemporaryFile()  # noqa: SIM115 (open as long as the process: see _release)
        self._final_output: str | None = None
        self.process = subprocess.Popen(
            command, env=dict(environment), stdout=self._capture, stderr=subprocess.STDOUT
        )

    def output(self) -> str:
        """What the process (and its workers) printed so far."""
        if self._final_output is not None:
            return self._final_output
        descriptor = self._capture.fileno()
        # pread leaves the file position alone: the process shares it and writes at it.
        return os.pread(descriptor, os.fstat(descriptor).st_size, 0).decode(errors="replace")

    def wait_until_healthy(self) -> str:
        """Waits until `GET /health` answers 200 and returns the base URL; fails with the process's output
        if it exits first, or after `health_timeout` seconds."""
        deadline = time.monotonic() + self.health_timeout
        with httpx.Client(base_url=self.url) as client:
            while not _healthy(client):
                assert self.process.poll() is None, f"chatloom serve exited:\n{self.output()}"
                assert time.monotonic() < deadline, f"chatloom serve did not come up:\n{self.output()}"
                time.sleep(0.05)
        return self.url

    def wait_for_exit(self, timeout: float = 60.0) -> int:
        """For a process expected to refuse to start: waits until it exits and returns its exit status;
        fails if it answers /health instead."""
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.url) as client:
            while (status := self.process.poll()) is None:
                assert not _healthy(client), "chatloom serve started"
                assert time.monotonic() < deadline, (
                    f"chatloom serve neither started nor exited:\n{self.output()}"
                )
                time.sleep(0.05)
        self._release()
        return status

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM, then waits for the process to exit (SIGKILL and fail if it takes over `timeout`)."""
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        self._release()

    def kill(self) -> None:
        """`kill -9`: no shutdown, no finishing of turns in flight."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self._release()

    def __enter__(self) -> ServeProcess:
        try:
            self.wait_until_healthy()
        except BaseException:
            self.kill()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def _release(self) -> None:
        """Keeps the output in memory and closes the file, once the process has exited."""
        if self._final_output is None:
            self._final_output = self.output()
            self._capture.close()


def _healthy(client: httpx.Client) -> bool:
    # One client for all the polls of a wait: a new one per poll costs tens of milliseconds of CPU (its
    # TLS context), taken from the server starting up beside it.
    try:
        return client.get("/health").status_code == 200
    except httpx.HTTPError:
        return False


class ServeProcesses:
    """Starts `ServeProcess`es; `close()` stops those still running, the last started first."""

    def __init__(self) -> None:
        self._stops = ExitStack()

    def start(
        self,
        environment: Mapping[str, str],
        *,
        workers: int | None = None,
        health_timeout: float = 30.0,
        wait: bool = True,
    ) -> ServeProcess:
        """A new process, answering /health by the time it is returned; with `wait=False` at once (the
        caller then calls `wait_until_healthy()` when it needs it)."""
        server = ServeProcess(environment, workers=workers, health_timeout=health_timeout)
        self._stops.callback(server.stop)
        if wait:
            server.wait_until_healthy()
        return server

    def close(self) -> None:
        self._stops.close()


def refused_start(environment: Mapping[str, str]) -> str:
    """What `chatloom serve` printed when it refused to start (it must exit with a failure status)."""
    server = ServeProcess(environment)
    try:
        status = server.wait_for_exit()
    finally:
        server.kill()
    assert status != 0, "chatloom serve exited with status 0"
    return server.output()
