"""Remote attachments fetched at model-call time: a `ChatProvider` wrapper that, before each call, fetches
the attachments its provider cannot take by URL and sends them inlined as `data:` URLs.

OpenAI-compatible providers fetch image URLs themselves, so only `file_url` files are fetched for them;
Anthropic and Gemini get every remote attachment as bytes. Each fetch goes through the outbound URL guard
(`outbound/http.py`: every URL and redirect checked, host names resolved by the guarded resolver), within
`FETCH_TIMEOUT_SECONDS` and the part's size bound. Nothing fetched is stored: the stored message keeps
the URL, and a later turn fetches it again. A turn holds no database connection while its model is
called, so none is held while fetching.
"""

from __future__ import annotations

import base64
import mimetypes
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from chatloom.domain.attachments import (
    FETCH_TIMEOUT_SECONDS,
    FILE_TYPES,
    IMAGE_TYPES,
    MAX_FILE_BYTES,
    MAX_IMAGE_BYTES,
    has_attachments,
    is_remote,
)
from chatloom.domain.errors import InvalidRequest
from chatloom.domain.events import ModelReply, TextChunk
from chatloom.domain.messages import Message
from chatloom.outbound.http import OutboundFailure, OutboundHttp, origin
from chatloom.providers.base import ChatProvider, ModelRequest

MB = 1024 * 1024


class AttachmentFetcher:
    """Fetches remote attachments through one guarded HTTP client (bounded to the largest file)."""

    def __init__(self, http: OutboundHttp) -> None:
        self.http = http

    async def inlined(self, messages: list[Message], images: bool) -> list[Message]:
        """The messages with their remote attachments (image URLs only if `images`) inlined."""
        ready: list[Message] = []
        for message in messages:
            content = message.get("content")
            if type(content) is list and any(remote(part, images) for part in content):
                message = {**message, "content": [await self.part(part, images) for part in content]}
            ready.append(message)
        return ready

    async def part(self, part: Any, images: bool) -> Any:
        if not remote(part, images):
            return part
        if part["type"] == "image_url":
            image = part["image_url"]
            url = await self.fetch(image["url"], IMAGE_TYPES, MAX_IMAGE_BYTES, "an image")
            return {**part, "image_url": {**image, "url": url}}
        file = dict(part["file"])
        file["file_data"] = await self.fetch(file.pop("file_url"), FILE_TYPES, MAX_FILE_BYTES, "a file")
        return {**part, "file": file}

    async def fetch(self, url: str, types: frozenset[str], limit: int, what: str) -> str:
        """`url`'s body as a base64 `data:` URL; a refused URL, a failure, an error status, a type not
        taken or a body past `limit` is a 400 naming the URL's origin."""
        field = "attachment URL"
        try:
            response = await self.http.request("GET", url, timeout_seconds=FETCH_TIMEOUT_SECONDS, field=field)
        except OutboundFailure as failure:
            if "larger than" in str(failure):
                message = f"{what} from {origin(url)} is larger than {limit // MB} MB"
            else:
                message = f"could not be fetched ({failure})"
            raise InvalidRequest(f"{field}: {message}", field=field) from None
        where = origin(url)
        if response.status != 200:
            raise InvalidRequest(f"{field}: {where} answered {response.status}", field=field)
        if len(response.body) > limit:
            raise InvalidRequest(f"{field}: {what} from {where} is larger than {limit // MB} MB", field=field)
        media_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type not in types:
            media_type = mimetypes.guess_type(url.split("?", 1)[0])[0] or media_type
        if media_type not in types:
            raise InvalidRequest(
                f"{field}: {where} sent '{media_type}', not {what} type this server takes", field=field
            )
        return f"data:{media_type};base64,{base64.b64encode(response.body).decode()}"


def to_fetch(messages: list[Message], images: bool) -> bool:
    """Whether any message has an attachment to fetch (a text-only conversation is told at C speed)."""
    return has_attachments(messages) and any(
        type(content := message.get("content")) is list and any(remote(part, images) for part in content)
        for message in messages
    )


def remote(part: Any, images: bool) -> bool:
    """Whether `part` is an attachment to fetch: a `file_url` file, or (if `images`) an image URL."""
    return is_remote(part) and (images or part.get("type") == "file")


class FetchingProvider:
    """A `ChatProvider` that inlines remote attachments, then calls `inner`."""

    def __init__(self, inner: ChatProvider, fetcher: AttachmentFetcher, images: bool) -> None:
        self.inner = inner
        self.fetcher = fetcher
        self.images = images

    async def complete(self, request: ModelRequest) -> ModelReply:
        if to_fetch(request.messages, self.images):
            request = replace(request, messages=await self.fetcher.inlined(request.messages, self.images))
        return await self.inner.complete(request)

    def stream(self, request: ModelRequest) -> AsyncIterator[TextChunk | ModelReply]:
        """The inner stream itself when there is nothing to fetch: no generator level more per delta."""
        if not to_fetch(request.messages, self.images):
            return self.inner.stream(request)
        return self.fetched_stream(request)

    async def fetched_stream(self, request: ModelRequest) -> AsyncIterator[TextChunk | ModelReply]:
        messages = await self.fetcher.inlined(request.messages, self.images)
        async for event in self.inner.stream(replace(request, messages=messages)):
            yield event

    async def aclose(self) -> None:
        await self.inner.aclose()
        await self.fetcher.http.aclose()
