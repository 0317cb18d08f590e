"""Attachments: the image and file parts a message's content list may hold, in the OpenAI chat shape.

Inside chatloom a message with attachments has a content list of parts:
`{"type": "text", "text"}`, `{"type": "image_url", "image_url": {"url", "detail"?}}` (an https URL or a
`data:` URL) and `{"type": "file", "file": {"filename"?, "file_data"?, "file_url"?}}` (`file_data` a
base64 `data:` URL; `file_url` an http(s) URL, fetched when the model is called). The stored message keeps
the data once, so a chained turn still sends it; wherever a transcript is shown (server messages, the
stored `input` field) an attachment is a short marker instead: `[image]`, `[file: report.pdf]`.
"""

from __future__ import annotations

from typing import Any, Final

from chatloom.domain.messages import Message

MAX_IMAGE_BYTES: Final = 10 * 1024 * 1024
"""The largest image, decoded."""
MAX_FILE_BYTES: Final = 20 * 1024 * 1024
"""The largest file, decoded."""
MAX_ATTACHMENT_BYTES: Final = 25 * 1024 * 1024
"""The most attachment bytes (decoded) one request may carry."""
MAX_PARTS: Final = 32
"""The most content parts one message may have."""
FETCH_TIMEOUT_SECONDS: Final = 20.0
"""How long fetching one remote attachment may take."""

IMAGE_TYPES: Final = frozenset(("image/png", "image/jpeg", "image/gif", "image/webp"))
TEXT_FILE_TYPES: Final = frozenset(
    ("text/plain", "text/markdown", "text/csv", "text/html", "application/json", "text/xml")
)
FILE_TYPES: Final = TEXT_FILE_TYPES | {"application/pdf"}


SUFFIX_TYPES: Final = {
    ".pdf": "application/pdf",
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".csv": "text/csv",
    ".html": "text/html",
    ".htm": "text/html",
    ".json": "application/json",
    ".xml": "text/xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}
"""The media type of each file name suffix this server takes (not the host's `/etc/mime.types`, which
differs between machines)."""


def type_of_name(name: str) -> str | None:
    """The media type a file name or URL path says by its suffix (query string ignored), if one taken."""
    path = name.split("?", 1)[0].rsplit("/", 1)[-1]
    _, dot, suffix = path.rpartition(".")
    return SUFFIX_TYPES.get(f".{suffix.lower()}") if dot else None


def is_attachment(part: Any) -> bool:
    return isinstance(part, dict) and part.get("type") in ("image_url", "file")


def is_remote(part: Any) -> bool:
    """Whether `part` is an attachment given by an http(s) URL (an image not inline, or a `file_url`)."""
    if not isinstance(part, dict):
        return False
    if part.get("type") == "file":
        return "file_url" in (part.get("file") or {})
    url = (part.get("image_url") or {}).get("url") if part.get("type") == "image_url" else None
    return isinstance(url, str) and not url.startswith("data:")


def marker(part: dict[str, Any]) -> str:
    """A short text standing for an attachment part: `[image]` or `[file: name]`."""
    if part.get("type") == "image_url":
        return "[image]"
    name = (part.get("file") or {}).get("filename")
    return f"[file: {name}]" if isinstance(name, str) and name else "[file]"


def shown_text(content: Any) -> str:
    """A content list as a transcript shows it: its texts, each attachment as its marker."""
    if not isinstance(content, list):
        return content if isinstance(content, str) else ""
    texts = []
    for part in content:
        if not isinstance(part, dict):
            continue
        if is_attachment(part):
            texts.append(marker(part))
        elif isinstance(part.get("text"), str):
            texts.append(part["text"])
    return " ".join(text for text in texts if text)


def holds_attachment(message: Any) -> bool:
    """Whether one message's content has an image or a file."""
    content = message.get("content") if isinstance(message, dict) else None
    return type(content) is list and any(is_attachment(part) for part in content)


def has_attachments(messages: Any) -> bool:
    """Whether any message holds an attachment. A history from the message cache (`EncodedMessages`, still
    unchanged) knows it already, so a long text-only conversation costs nothing here."""
    if getattr(messages, "json", None) is not None:
        return bool(messages.attachments)
    if list not in {type(message.get("content")) for message in messages}:  # the fastest pass found
        return False
    return any(holds_attachment(message) for message in messages)


def shown_messages(messages: list[Message]) -> list[Message]:
    """The messages with each attachment replaced by its marker (the others as they are, not copied)."""
    shown: list[Message] = []
    for message in messages:
        content = message.get("content")
        if type(content) is list and any(is_attachment(part) for part in content):
            message = {**message, "content": shown_text(content)}
        shown.append(message)
    return shown


def data_url_parts(url: str) -> tuple[str, str] | None:
    """A base64 `data:` URL as (media type, base64 data); None when it is not one."""
    if not url.startswith("data:"):
        return None
    head, comma, data = url.partition(",")
    if not comma or not head.endswith(";base64"):
        return None
    media_type = head[5 : -len(";base64")].split(";", 1)[0].strip().lower()
    return media_type, data


def shown_document(document: dict[str, Any]) -> dict[str, Any]:
    """A chat or session with each attachment of its `messages` and `output` as a marker; the document
    itself when it has none."""
    changes: dict[str, Any] = {}
    for key in ("messages", "output"):
        value = document.get(key)
        if isinstance(value, list) and has_attachments(value):
            changes[key] = shown_messages(value)
    return {**document, **changes} if changes else document
