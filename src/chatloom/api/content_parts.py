"""Content parts on the wire: OpenAI chat parts (`text`, `image_url`, `file`) in `/chat` messages and
Responses parts (`input_text`, `input_image`, `input_file`) in `/chat/responses` input, checked and turned
into chatloom's content list (`domain/attachments.py`), and turned back into Responses parts.

A part that breaks a rule is refused naming it (`input[0].content[1]`): a malformed one, bad base64, a
media type that is not an image (PNG, JPEG, GIF, WebP) or a PDF or text file, a URL that is not http(s),
or a `file_id` (this server has no Files API) with 400; one past a size bound with 413.
"""

from __future__ import annotations

import binascii
from typing import Any
from urllib.parse import urlsplit

from chatloom.api.errors import PayloadTooLarge
from chatloom.api.schemas.common import MESSAGE_CONTENT_LIMIT
from chatloom.domain.attachments import (
    FILE_TYPES,
    IMAGE_TYPES,
    MAX_ATTACHMENT_BYTES,
    MAX_FILE_BYTES,
    MAX_IMAGE_BYTES,
    MAX_PARTS,
    data_url_parts,
    shown_text,
    type_of_name,
)
from chatloom.domain.errors import InvalidRequest

TEXT_TYPES = frozenset(("text", "input_text", "output_text"))
DETAILS = frozenset(("auto", "low", "high"))
MB = 1024 * 1024


class AttachmentBudget:
    """The attachment bytes one request has used so far (decoded), bounded by `MAX_ATTACHMENT_BYTES`."""

    __slots__ = ("used",)

    def __init__(self) -> None:
        self.used = 0

    def spend(self, size: int, where: str) -> None:
        self.used += size
        if self.used > MAX_ATTACHMENT_BYTES:
            raise PayloadTooLarge(
                f"{where}: the request's attachments are larger than {MAX_ATTACHMENT_BYTES // MB} MB in all"
            )


def content_list(
    parts: list[Any], where: str, budget: AttachmentBudget, *, responses: bool, role: str = "user"
) -> str | list[dict[str, Any]]:
    """A message's content parts as chatloom content: the joined text when every part is text (as
    before attachments existed), else the content list. `responses` picks the Responses part names. Its
    text is bounded as a string content is (`MESSAGE_CONTENT_LIMIT`); images and files go on user messages
    only (no provider takes them elsewhere)."""
    if len(parts) > MAX_PARTS:
        raise InvalidRequest(f"{where}: at most {MAX_PARTS} content parts", field=where)
    content: list[dict[str, Any]] = []
    attached = False
    text_left = MESSAGE_CONTENT_LIMIT
    for index, part in enumerate(parts):
        at = f"{where}[{index}]"
        if not isinstance(part, dict):
            raise InvalidRequest(f"{at}: must be an object", field=at)
        kind = part.get("type", "text")
        if kind in TEXT_TYPES:
            text = part.get("text")
            if not isinstance(text, str):
                raise InvalidRequest(f"{at}.text: must be a string", field=f"{at}.text")
            text_left -= len(text)
            if text_left < 0:
                raise InvalidRequest(
                    f"{at}.text: a message's text may be at most {MESSAGE_CONTENT_LIMIT} characters",
                    field=f"{at}.text",
                )
            content.append({"type": "text", "text": text})
            continue
        if role != "user":
            raise InvalidRequest(f"{at}.type: images and files go on user messages only", field=f"{at}.type")
        attached = True
        if kind == ("input_image" if responses else "image_url"):
            content.append(image_part(part, at, budget, responses))
        elif kind == ("input_file" if responses else "file"):
            content.append(file_part(part if responses else _object(part.get("file"), at), at, budget))
        else:
            raise InvalidRequest(f"{at}.type: '{kind}' content parts are not supported", field=f"{at}.type")
    if not attached:
        return "".join(part["text"] for part in content)
    return content


def _object(value: Any, at: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidRequest(f"{at}: must be an object", field=at)
    return value


def _no_file_id(fields: dict[str, Any], at: str) -> None:
    if fields.get("file_id") is not None:
        raise InvalidRequest(
            f"{at}.file_id: files by id are not supported (this server has no Files API); send the data "
            "or a URL instead",
            field=f"{at}.file_id",
        )


def image_part(part: dict[str, Any], at: str, budget: AttachmentBudget, responses: bool) -> dict[str, Any]:
    fields = part if responses else _object(part.get("image_url"), f"{at}.image_url")
    where = at if responses else f"{at}.image_url"
    _no_file_id(fields, where)
    url, detail = fields.get("image_url" if responses else "url"), fields.get("detail")
    url_field = f"{where}.image_url" if responses else f"{where}.url"
    if not isinstance(url, str) or not url:
        raise InvalidRequest(f"{url_field}: is required (an http(s) or data: URL)", field=url_field)
    if detail is not None and detail not in DETAILS:
        raise InvalidRequest(f"{where}.detail: must be auto, low or high", field=f"{where}.detail")
    inline = data_url_parts(url)
    if inline is not None:
        media_type, data = inline
        if media_type not in IMAGE_TYPES:
            raise InvalidRequest(
                f"{url_field}: '{media_type}' is not an image type this server takes "
                f"({', '.join(sorted(IMAGE_TYPES))})",
                field=url_field,
            )
        budget.spend(decoded_size(data, MAX_IMAGE_BYTES, at, "an image"), at)
    else:
        web_url(url, url_field)
    image: dict[str, Any] = {"url": url}
    if detail is not None:
        image["detail"] = detail
    return {"type": "image_url", "image_url": image}


def file_part(fields: dict[str, Any], at: str, budget: AttachmentBudget) -> dict[str, Any]:
    _no_file_id(fields, at)
    filename, data, url = fields.get("filename"), fields.get("file_data"), fields.get("file_url")
    if filename is not None and (not isinstance(filename, str) or len(filename) > 255):
        raise InvalidRequest(
            f"{at}.filename: must be a name of at most 255 characters", field=f"{at}.filename"
        )
    file: dict[str, Any] = {"filename": filename} if filename else {}
    if isinstance(url, str) and url and data is None:
        web_url(url, f"{at}.file_url")
        file["file_url"] = url
        return {"type": "file", "file": file}
    if not isinstance(data, str) or not data:
        raise InvalidRequest(f"{at}: needs file_data (base64 or a data: URL) or file_url", field=at)
    inline = data_url_parts(data)
    if inline is not None:
        media_type, encoded = inline
    else:
        guessed = type_of_name(filename or "")
        media_type, encoded = guessed or "", data
    if media_type not in FILE_TYPES:
        shown = f"'{media_type}'" if media_type else "an unknown type (name the file, e.g. report.pdf)"
        raise InvalidRequest(
            f"{at}.file_data: {shown} is not a file type this server takes (PDF or text)",
            field=f"{at}.file_data",
        )
    budget.spend(decoded_size(encoded, MAX_FILE_BYTES, at, "a file"), at)
    file["file_data"] = data if inline is not None else f"data:{media_type};base64,{data}"
    return {"type": "file", "file": file}


def decoded_size(data: str, limit: int, at: str, what: str) -> int:
    """The decoded size of base64 `data`: 413 past `limit` (checked before decoding), 400 if malformed."""
    if len(data) // 4 * 3 > limit + 3:
        raise PayloadTooLarge(f"{at}: {what} may be at most {limit // MB} MB")
    try:
        size = len(binascii.a2b_base64(data, strict_mode=True))
    except (binascii.Error, ValueError):
        raise InvalidRequest(f"{at}: the data is not valid base64", field=at) from None
    if size > limit:
        raise PayloadTooLarge(f"{at}: {what} may be at most {limit // MB} MB")
    return size


def web_url(url: str, field: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 8192:
        raise InvalidRequest(f"{field}: must be an http(s) URL or a base64 data: URL", field=field)


def responses_parts(content: list[Any], role: str) -> list[dict[str, Any]]:
    """A content list as Responses parts (`input_text`, `input_image`, `input_file`)."""
    text_kind = "output_text" if role == "assistant" else "input_text"
    shown: list[dict[str, Any]] = []
    for part in content:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "image_url":
            image = part.get("image_url") or {}
            shown.append(
                {"type": "input_image", "image_url": image.get("url"), "detail": image.get("detail", "auto")}
            )
        elif kind == "file":
            shown.append({"type": "input_file", **(part.get("file") or {})})
        elif isinstance(part.get("text"), str):
            shown.append({"type": text_kind, "text": part["text"]})
    return shown


def with_parts(raw: Any, chat: dict[str, Any]) -> list[Any]:
    """The input messages, each whose attachments the `input` field shows as markers taken from the
    chat's messages (where the input ends them), which keep its content parts."""
    shown_messages: list[Any] = list(raw or [])
    stored = chat.get("messages") or []
    if not shown_messages or len(stored) < len(shown_messages):
        return shown_messages
    return [
        kept
        if isinstance(kept, dict)
        and type(parts := kept.get("content")) is list
        and isinstance(shown, dict)
        and shown.get("content") == shown_text(parts)
        else shown
        for shown, kept in zip(shown_messages, stored[-len(shown_messages) :], strict=True)
    ]
