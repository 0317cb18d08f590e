"""File content behind a small interface, by key: `FileStorage`, and `DirectoryStorage`, which keeps each
object as one file in a directory.

Keys are made by the server (a file's id, `<id>.txt` for its extracted text), never from what a client
sent, and are checked against a narrow pattern anyway. Writes are atomic: content goes to a temporary file
in the same directory, is flushed to disk, then renamed over the key, so a reader sees the old object or
the new one, never a part. An object store (S3 and the like) fits by implementing the same four methods.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import IO, Protocol

CHUNK_BYTES = 1024 * 1024
KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class ObjectMissing(Exception):
    """No object is stored under the key."""


class ObjectTooLarge(Exception):
    """The object is larger than the reader accepts."""


class FileStorage(Protocol):
    """Where file content lives, by key. Every method is safe to call again (a job that runs twice)."""

    async def put(self, key: str, content: bytes | AsyncIterable[bytes]) -> int:
        """Stores `content` under `key`, replacing what was there, atomically; returns its size."""
        ...

    async def read(self, key: str, max_bytes: int) -> bytes:
        """The whole object; `ObjectMissing` without one, `ObjectTooLarge` past `max_bytes`."""
        ...

    def stream(self, key: str) -> AsyncIterator[bytes]:
        """The object in chunks (`ObjectMissing` at the first one without it)."""
        ...

    async def delete(self, key: str) -> None:
        """Removes the object; nothing happens when there is none."""
        ...


def checked_key(key: str) -> str:
    if not KEY.fullmatch(key):
        raise ValueError(f"not a storage key: {key[:200]!r}")
    return key


class DirectoryStorage:
    """Objects as files directly under `root` (created on first write)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def path_of(self, key: str) -> Path:
        return self.root / checked_key(key)

    async def put(self, key: str, content: bytes | AsyncIterable[bytes]) -> int:
        target = self.path_of(key)
        await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)
        temporary = self.root / f".partial-{uuid.uuid4().hex}"
        handle = await asyncio.to_thread(open, temporary, "xb")
        written = 0
        try:
            try:
                if isinstance(content, bytes):
                    written = await asyncio.to_thread(handle.write, content)
                else:
                    async for chunk in content:
                        written += await asyncio.to_thread(handle.write, chunk)
                await asyncio.to_thread(_flush, handle)
            finally:
                await asyncio.to_thread(handle.close)
            await asyncio.to_thread(os.replace, temporary, target)
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise
        return written

    async def read(self, key: str, max_bytes: int) -> bytes:
        return await asyncio.to_thread(self._read, self.path_of(key), max_bytes)

    @staticmethod
    def _read(path: Path, max_bytes: int) -> bytes:
        try:
            with path.open("rb") as handle:
                data = handle.read(max_bytes + 1)
        except FileNotFoundError:
            raise ObjectMissing(path.name) from None
        if len(data) > max_bytes:
            raise ObjectTooLarge(f"{path.name} is larger than {max_bytes} bytes")
        return data

    async def stream(self, key: str) -> AsyncIterator[bytes]:
        path = self.path_of(key)
        try:
            handle = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError:
            raise ObjectMissing(key) from None
        try:
            while chunk := await asyncio.to_thread(handle.read, CHUNK_BYTES):
                yield chunk
        finally:
            await asyncio.to_thread(handle.close)

    async def delete(self, key: str) -> None:
        path = self.path_of(key)
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(path.unlink)


def _flush(handle: IO[bytes]) -> None:
    handle.flush()
    os.fsync(handle.fileno())
