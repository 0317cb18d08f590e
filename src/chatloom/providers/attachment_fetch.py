"""Remote attachments fetched at model-call time (`engine/calls/models.py` asks once per model call, before
its retries and fallbacks) and sent inlined as `data:` URLs.

OpenAI-compatible providers fetch image URLs themselves, so only `file_url` files are fetched for them;
Anthropic and Gemini (`needs_image_bytes` adapters) get every remote attachment as bytes. Each fetch goes
through the outbound URL guard (`outbound/http.py`: every URL and redirect checked, host names resolved by
the guarded resolver), within `FETCH_TIMEOUT_SECONDS` and the part's size bound, and what one call fetches
is at most `MAX_ATTACHMENT_BYTES` in all. Nothing fetched is stored: the stored message keeps the URL, and
a later turn fetches it again. A turn holds no database connection while its model is called, so none is
held while fetching.
"""

from __future__ import annotations

import base64
from typing import Any

from chatloom.domain.attachments import (
    FETCH_TIMEOUT_SECONDS,
    FILE_TYPES,
    IMAGE_TYPES,
    MAX_ATTACHMENT_BYTES,
    MAX_FILE_BYTES,
    MAX_IMAGE_BYTES,
    has_attachments,
    is_remote,
    type_of_name,
)
from chatloom.domain.errors import InvalidRequest
from chatloom.domain.messages import Message
from chatloom.outbound.bounded import AnswerTooLarge
from chatloom.outbound.http import OutboundFailure, OutboundHttp, origin

MB = 1024 * 1024


class AttachmentFetcher:
    """Fetches remote attachments through the server's guarded HTTP client."""

    def __init__(self, http: OutboundHttp) -> None:
        self.http = http

    async def inlined(self, messages: list[Message], images: bool) -> list[Message]:
        """The messages with their remote attachments (image URLs only if `images`) inlined; past
        `MAX_ATTACHMENT_BYTES` fetched in all, a 400."""
        budget = [MAX_ATTACHMENT_BYTES]
        ready: list[Message] = []
        for message in messages:
            content = message.get("content")
            if type(content) is list and any(remote(part, images) for part in content):
                message = {**message, "content": [await self.part(part, images, budget) for part in content]}
            ready.append(message)
        return ready

    async def part(self, part: Any, images: bool, budget: list[int]) -> Any:
        if not remote(part, images):
            return part
        if part["type"] == "image_url":
            image = part["image_url"]
            url = await self.fetch(image["url"], IMAGE_TYPES, MAX_IMAGE_BYTES, "an image", budget)
            return {**part, "image_url": {**image, "url": url}}
        file = dict(part["file"])
        url = file.pop("file_url")
        file["file_data"] = await self.fetch(url, FILE_TYPES, MAX_FILE_BYTES, "a file", budget)
        return {**part, "file": file}

    async def fetch(self, url: str, types: frozenset[str], limit: int, what: str, budget: list[int]) -> str:
        """`url`'s body as a base64 `data:` URL; a refused URL, a failure, an error status, a type not
        taken or a body past `limit` (or past what is left of `budget`) is a 400 naming the URL's origin."""
        field = "attachment URL"
        where = origin(url)
        bound = min(limit, budget[0])
        try:
            response = await self.http.request(
                "GET", url, timeout_seconds=FETCH_TIMEOUT_SECONDS, field=field, max_response_bytes=bound
            )
        except OutboundFailure as failure:
            if not isinstance(failure.__cause__, AnswerTooLarge):
                raise InvalidRequest(f"{field}: could not be fetched ({failure})", field=field) from None
            if bound < limit:
                message = f"the attachments fetched are larger than {MAX_ATTACHMENT_BYTES // MB} MB in all"
            else:
                message = f"{what} from {where} is larger than {limit // MB} MB"
            raise InvalidRequest(f"{field}: {message}", field=field) from None
        budget[0] -= len(response.body)
        if response.status != 200:
            raise InvalidRequest(f"{field}: {where} answered {response.status}", field=field)
        media_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type not in types:
            media_type = type_of_name(url) or media_type
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
