"""The extraction worker: a separate Python process per file, so a hostile file can cost only that process.

`parse(content, name, limits)` (the server's side) starts `python -m chatloom.files.worker` with a clean
environment (no secrets), hands it the file on stdin and reads its answer from stdout, at most
`max_text_bytes` (and a little framing): `T` and the UTF-8 text, or `F` and why there is none. The child
(`main`) first limits itself: address space (`RLIMIT_AS`, `memory_mb`) and CPU time (`RLIMIT_CPU`); the
server kills it once `seconds` of wall-clock time have passed, or as soon as it says more than allowed.
A killed or crashed child is a failed parse with a reason, never an exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import orjson

READ_BYTES = 64 * 1024
FRAMING_BYTES = 1024
MAX_NAME_CHARS = 255


@dataclass(frozen=True, slots=True)
class WorkerLimits:
    seconds: float
    memory_mb: int
    max_text_bytes: int
    max_input_bytes: int
    max_pdf_pages: int = 2000


@dataclass(frozen=True, slots=True)
class Outcome:
    """A parse's result: the text, or the reason there is none (for the file's `failedReason`)."""

    text: str | None = None
    reason: str | None = None


def _environment() -> dict[str, str]:
    """What the child gets: how to find this very package and its dependencies, nothing else."""
    package_root = str(Path(__file__).resolve().parent.parent.parent)
    inherited = os.environ.get("PYTHONPATH", "")
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": package_root + (os.pathsep + inherited if inherited else ""),
        "PYTHONDONTWRITEBYTECODE": "1",
        "LC_ALL": "C.UTF-8",
    }


async def parse(content: bytes, name: str, limits: WorkerLimits) -> Outcome:
    """The text of `content` (a file called `name`), extracted in a child process under `limits`."""
    arguments = orjson.dumps(
        {
            "name": name[-MAX_NAME_CHARS:],
            "memoryMb": limits.memory_mb,
            "cpuSeconds": max(1, int(limits.seconds) + 1),
            "maxTextBytes": limits.max_text_bytes,
            "maxInputBytes": limits.max_input_bytes,
            "maxPdfPages": limits.max_pdf_pages,
        }
    ).decode()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chatloom.files.worker",
        arguments,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=_environment(),
        start_new_session=True,
    )
    cap = limits.max_text_bytes + FRAMING_BYTES
    try:
        output = await asyncio.wait_for(_exchange(process, content, cap), timeout=limits.seconds)
    except TimeoutError:
        return Outcome(reason=f"parsing took longer than {limits.seconds:g} seconds")
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
    if output is None:
        return Outcome(reason=f"extracted text is larger than {limits.max_text_bytes} bytes")
    return _outcome(output, process.returncode, limits)


async def _exchange(process: asyncio.subprocess.Process, content: bytes, cap: int) -> bytes | None:
    """Sends `content`, then reads the answer and waits for the exit; None once it says more than `cap`."""
    assert process.stdin is not None and process.stdout is not None
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the child may die early
        process.stdin.write(content)
        await process.stdin.drain()
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        process.stdin.close()
    chunks: list[bytes] = []
    size = 0
    while chunk := await process.stdout.read(READ_BYTES):
        size += len(chunk)
        if size > cap:
            return None
        chunks.append(chunk)
    await process.wait()
    return b"".join(chunks)


def _outcome(output: bytes, status: int | None, limits: WorkerLimits) -> Outcome:
    if status == 0 and output[:1] == b"T":
        return Outcome(text=output[1:].decode("utf-8", "replace"))
    if status == 0 and output[:1] == b"F":
        return Outcome(reason=output[1:FRAMING_BYTES].decode("utf-8", "replace") or "the file cannot be read")
    if status in (-signal.SIGXCPU, -signal.SIGKILL):
        return Outcome(reason=f"parsing used more than its time or {limits.memory_mb} MiB of memory")
    return Outcome(reason=f"the parser stopped unexpectedly (exit status {status})")


def _limit_self(memory_mb: int, cpu_seconds: int) -> None:
    import resource

    memory = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))


def main() -> None:
    """The child: limits itself, reads the file from stdin, writes `T<text>` or `F<reason>` to stdout."""
    options = orjson.loads(sys.argv[1])
    _limit_self(int(options["memoryMb"]), int(options["cpuSeconds"]))
    from chatloom.files.extraction import ExtractionFailed, Limits, extract

    out = sys.stdout.buffer
    data = sys.stdin.buffer.read(int(options["maxInputBytes"]) + 1)
    if len(data) > int(options["maxInputBytes"]):
        out.write(b"Fthe file is larger than the parser accepts")
        return
    limits = Limits(max_text_bytes=int(options["maxTextBytes"]), max_pdf_pages=int(options["maxPdfPages"]))
    try:
        text = extract(str(options["name"]), data, limits)
    except ExtractionFailed as failure:
        answer = b"F" + str(failure).encode("utf-8", "replace")
    except MemoryError:
        answer = f"Fparsing needed more than {options['memoryMb']} MiB of memory".encode()
    except RecursionError:
        answer = b"Fthe file's structure nests too deeply"
    except Exception as error:  # a parser's own bug on a strange file: that file fails, with the type
        answer = f"Fthe file cannot be read ({type(error).__name__})".encode()
    else:
        answer = b"T" + text.encode("utf-8", "replace")
    out.write(answer)
    out.flush()


if __name__ == "__main__":
    main()
