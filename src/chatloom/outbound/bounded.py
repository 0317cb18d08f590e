"""Reads HTTP answers within a byte limit, in time linear in their size: a whole body, or a stream's lines.

Every answer from a user-reachable server (LLM, tool server, webhook receiver) is read through here, so one
setting (`CHATLOOM_MAX_UPSTREAM_BYTES`) bounds the memory any of them can make this server use.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import aiohttp


class AnswerTooLarge(Exception):
    """The answer (or one line of a streamed answer) is larger than the limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the answer is larger than {limit} bytes")
        self.limit = limit


def declared_length(headers: Mapping[str, str]) -> int | None:
    value = headers.get("Content-Length")
    if value is None or not (value.isascii() and value.isdigit()) or len(value) > 18:
        return None
    return int(value)


async def read_bounded(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The whole body; `AnswerTooLarge` as soon as it (or its declared length) passes `limit`."""
    length = declared_length(response.headers)
    if length is not None and length > limit:
        raise AnswerTooLarge(limit)
    body = bytearray()
    while True:
        chunk = await response.content.read(min(limit + 1 - len(body), 1 << 20))
        if not chunk:
            return bytes(body)
        body += chunk
        if len(body) > limit:
            raise AnswerTooLarge(limit)


async def read_prefix(response: aiohttp.ClientResponse, size: int) -> bytes:
    """At most `size` bytes of the body (for error answers, where only the start matters)."""
    body = bytearray()
    while len(body) < size:
        chunk = await response.content.read(size - len(body))
        if not chunk:
            break
        body += chunk
    return bytes(body)


async def stream_lines(response: aiohttp.ClientResponse, limit: int) -> AsyncIterator[bytes]:
    """The body's lines (without their `\\n`) as they arrive; the last one even without a newline.

    `AnswerTooLarge` when one line, or the whole stream, passes `limit` bytes. Each byte is looked at a
    bounded number of times, however long a line grows.
    """
    pending = bytearray()
    total = 0
    async for data in response.content.iter_any():
        total += len(data)
        if total > limit:
            raise AnswerTooLarge(limit)
        start = 0
        while (newline := data.find(b"\n", start)) >= 0:
            if pending:
                pending += data[start:newline]
                yield bytes(pending)
                pending.clear()
            else:
                yield data[start:newline]
            start = newline + 1
        if start < len(data):
            pending += data[start:]
    if pending:
        yield bytes(pending)
