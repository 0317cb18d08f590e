"""Content parts in each provider's own terms: one message's content list (`domain/attachments.py`) as
Anthropic content blocks or Gemini parts. The OpenAI-compatible adapter sends the list as it is.

By the time a message gets here its remote attachments were fetched and inlined as `data:` URLs
(`providers/attachment_fetch.py`); a URL still present is passed on for the provider to fetch itself
(Anthropic `url` sources, Gemini `fileData`).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from chatloom.domain.attachments import TEXT_FILE_TYPES, data_url_parts, type_of_name


def anthropic_blocks(content: list[Any]) -> list[dict[str, Any]]:
    """A content list as Anthropic blocks: text, `image`, and `document` (PDF as base64, text files as a
    `text` source)."""
    blocks: list[dict[str, Any]] = []
    for part in content:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "image_url":
            url = str((part.get("image_url") or {}).get("url") or "")
            inline = data_url_parts(url)
            source = (
                {"type": "base64", "media_type": inline[0], "data": inline[1]}
                if inline is not None
                else {"type": "url", "url": url}
            )
            blocks.append({"type": "image", "source": source})
        elif kind == "file":
            blocks.append(anthropic_document(part.get("file") or {}))
        elif isinstance(text := part.get("text"), str) and text:
            blocks.append({"type": "text", "text": text})
    return blocks


def anthropic_document(file: dict[str, Any]) -> dict[str, Any]:
    inline = data_url_parts(str(file.get("file_data") or ""))
    source: dict[str, Any]
    if inline is None:
        source = {"type": "url", "url": str(file.get("file_url") or "")}
    elif inline[0] in TEXT_FILE_TYPES:
        source = {"type": "text", "media_type": "text/plain", "data": decoded_text(inline[1])}
    else:
        source = {"type": "base64", "media_type": inline[0], "data": inline[1]}
    block: dict[str, Any] = {"type": "document", "source": source}
    if file.get("filename"):
        block["title"] = file["filename"]
    return block


def decoded_text(data: str) -> str:
    try:
        return base64.b64decode(data).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return ""


def gemini_parts(content: list[Any]) -> list[dict[str, Any]]:
    """A content list as Gemini parts: text, `inlineData` for data, `fileData` for a URL left unfetched."""
    parts: list[dict[str, Any]] = []
    for part in content:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "image_url":
            parts.append(gemini_data(str((part.get("image_url") or {}).get("url") or "")))
        elif kind == "file":
            file = part.get("file") or {}
            parts.append(gemini_data(str(file.get("file_data") or file.get("file_url") or "")))
        elif isinstance(text := part.get("text"), str) and text:
            parts.append({"text": text})
    return parts


def gemini_data(url: str) -> dict[str, Any]:
    inline = data_url_parts(url)
    if inline is not None:
        return {"inlineData": {"mimeType": inline[0], "data": inline[1]}}
    guessed = type_of_name(url) or "application/octet-stream"
    return {"fileData": {"mimeType": guessed, "fileUri": url}}
