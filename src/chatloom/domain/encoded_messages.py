"""Messages that carry their own JSON, so a long conversation's history is encoded once (when this
process first holds it) instead of twice on every turn (the model request and the response).

`EncodedMessages` is a list of messages with `json`: exactly what `orjson.dumps(list(messages))` gives,
or None once the list was changed (then it is encoded like any list). Encoders that know it (the
response encoder, the OpenAI-compatible codec) splice `json` in with `orjson.Fragment`; everything else
sees a list.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, SupportsIndex

import orjson

from chatloom.domain.attachments import holds_attachment
from chatloom.domain.messages import Message

WIRE_KEYS: frozenset[str] = frozenset(("role", "content", "tool_calls", "tool_call_id", "name"))
"""The keys of an OpenAI chat message; ours may carry more (a summary's `metadata`)."""


def is_plain(messages: Iterable[Message]) -> bool:
    """Whether no message has a key the OpenAI chat wire does not take."""
    return WIRE_KEYS.issuperset(set().union(*messages))


class EncodedMessages(list[Message]):
    """A list of messages with its JSON (`json`, None once changed), whether all are `plain`, and whether
    any may hold an attachment (`attachments`, known from the message cache; True when unknown)."""

    __slots__ = ("attachments", "json", "plain")

    def __init__(
        self, messages: Iterable[Message], json: bytes | None, plain: bool, attachments: bool = True
    ) -> None:
        super().__init__(messages)
        self.json = json
        self.plain = plain
        self.attachments = attachments

    @classmethod
    def join(cls, parts: Sequence[Sequence[Message]]) -> EncodedMessages:
        """The parts one after another; an `EncodedMessages` part adds its JSON as it is, the others
        (a few messages each) are encoded now."""
        pieces: list[bytes | memoryview] = [b"["]
        items: list[Message] = []
        plain = True
        attachments = False
        for part in parts:
            if not part:
                continue
            # list.copy gives a plain list at memcpy speed; extending by a subclass goes item by item.
            items += part if type(part) is list or not isinstance(part, list) else list.copy(part)
            if len(pieces) > 1:
                pieces.append(b",")
            if isinstance(part, EncodedMessages) and part.json is not None:
                pieces.append(memoryview(part.json)[1:-1])
                plain = plain and part.plain
                attachments = attachments or part.attachments
            else:
                pieces.append(memoryview(orjson.dumps(list(part)))[1:-1])
                plain = plain and is_plain(part)
                attachments = attachments or any(holds_attachment(message) for message in part)
        pieces.append(b"]")
        return cls(items, b"".join(pieces), plain, attachments)

    def _changed(self) -> None:
        self.json = None

    def append(self, item: Message) -> None:
        self._changed()
        super().append(item)

    def extend(self, items: Iterable[Message]) -> None:
        self._changed()
        super().extend(items)

    def insert(self, index: SupportsIndex, item: Message) -> None:
        self._changed()
        super().insert(index, item)

    def pop(self, index: SupportsIndex = -1) -> Message:
        self._changed()
        return super().pop(index)

    def remove(self, item: Message) -> None:
        self._changed()
        super().remove(item)

    def clear(self) -> None:
        self._changed()
        super().clear()

    def sort(self, *args: Any, **kwargs: Any) -> None:
        self._changed()
        super().sort(*args, **kwargs)

    def reverse(self) -> None:
        self._changed()
        super().reverse()

    def __setitem__(self, index: Any, value: Any) -> None:
        self._changed()
        super().__setitem__(index, value)

    def __delitem__(self, index: Any) -> None:
        self._changed()
        super().__delitem__(index)

    def __iadd__(self, items: Iterable[Message]) -> Any:  # type: ignore[override,misc]
        self._changed()
        return super().__iadd__(items)

    def __imul__(self, count: SupportsIndex) -> Any:
        self._changed()
        return super().__imul__(count)


def spliced(value: Any) -> Any:
    """`default=` for `orjson.dumps(..., option=orjson.OPT_PASSTHROUGH_SUBCLASS)`: an `EncodedMessages`
    goes in as its JSON; any other subclass of str, int, dict or list as its base type."""
    if isinstance(value, EncodedMessages):
        return orjson.Fragment(value.json) if value.json is not None else list(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        return list(value)
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")
