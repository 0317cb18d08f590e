"""This process's cache of decoded conversation messages: log id -> the log's first messages.

Bounded by the messages' stored JSON size (`CHATLOOM_MESSAGE_CACHE_MB`), least recently used out. An
entry keeps the messages decoded and their JSON too, so a turn neither decodes nor re-encodes its history.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from chatloom.domain.attachments import holds_attachment
from chatloom.domain.encoded_messages import WIRE_KEYS, EncodedMessages

Message = Any


@dataclass(slots=True)
class CachedLog:
    ancestry: tuple[tuple[str, int], ...]
    messages: list[Message]
    size: int
    encoded: bytearray = field(default_factory=bytearray)
    """The messages' JSON, comma-separated (no brackets): a prefix's JSON is a slice of it."""
    ends: list[int] = field(default_factory=list)
    """Where each message's JSON ends in `encoded` (a comma follows it unless it is the last)."""
    first_not_plain: int | None = None
    """The first message with a key the OpenAI chat wire does not take, if any."""
    first_attachment: int | None = None
    """The first message holding an image or a file, if any."""

    def add(self, messages: Sequence[Message]) -> None:
        """Encodes messages appended to `messages` (once, as this process first holds them)."""
        for message in messages:
            if self.encoded:
                self.encoded += b","
            self.encoded += orjson.dumps(message)
            self.ends.append(len(self.encoded))
            if self.first_not_plain is None and not (
                isinstance(message, dict) and message.keys() <= WIRE_KEYS
            ):
                self.first_not_plain = len(self.ends) - 1
            if self.first_attachment is None and holds_attachment(message):
                self.first_attachment = len(self.ends) - 1

    def prefix(self, end: int) -> EncodedMessages:
        """The first `end` messages, with their JSON."""
        json = b"".join((b"[", memoryview(self.encoded)[: self.ends[end - 1]], b"]")) if end else b"[]"
        plain = self.first_not_plain is None or self.first_not_plain >= end
        attachments = self.first_attachment is not None and self.first_attachment < end
        return EncodedMessages(self.messages[:end], json, plain, attachments)


class MessageCache:
    """Decoded prefixes of logs, least recently used first out, bounded by their stored JSON size.

    Coherent across processes without invalidation: a cached prefix can only be shorter than the log,
    never different, because rows are immutable. Whatever reads it asks for positions it knows exist
    (from a chat or session row) and reads only the missing tail. A log deleted by another process
    simply stops being referenced, so its entry here is never asked for again and ages out.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._entries: OrderedDict[str, CachedLog] = OrderedDict()

    def get(self, log_id: str) -> CachedLog | None:
        entry = self._entries.get(log_id)
        if entry is not None:
            self._entries.move_to_end(log_id)
        return entry

    def put(
        self, log_id: str, ancestry: tuple[tuple[str, int], ...], messages: list[Message], size: int
    ) -> None:
        self.forget(log_id)
        if size > self.max_bytes:
            return
        entry = CachedLog(ancestry, messages, size)
        entry.add(messages)
        self._entries[log_id] = entry
        self.size += size
        while self.size > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self.size -= evicted.size

    def extend(self, log_id: str, start: int, messages: Sequence[Message], size: int) -> bool:
        """Appends to a cached prefix that ends exactly at `start`; False when there is none."""
        entry = self._entries.get(log_id)
        if entry is None or len(entry.messages) != start:
            return False
        entry.messages.extend(messages)
        entry.add(messages)
        entry.size += size
        self.size += size
        self._entries.move_to_end(log_id)
        while self.size > self.max_bytes and self._entries:
            _, evicted = self._entries.popitem(last=False)
            self.size -= evicted.size
        return True

    def forget_past(self, log_id: str, length: int) -> None:
        """Drops the entry if it holds messages at or past `length` (they were just deleted)."""
        entry = self._entries.get(log_id)
        if entry is not None and len(entry.messages) > length:
            self.forget(log_id)

    def forget(self, log_id: str) -> None:
        entry = self._entries.pop(log_id, None)
        if entry is not None:
            self.size -= entry.size
