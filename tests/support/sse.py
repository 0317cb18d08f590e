"""Reading server-sent events the way a browser's `EventSource` does: `id:`, `event:`, `data:` fields,
comment lines (heartbeats) kept apart."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass
class SseEvent:
    id: str | None = None
    event: str | None = None
    data: str = ""
    comments: list[str] = field(default_factory=list)

    def json(self) -> Any:
        return orjson.loads(self.data)


def sse_events(lines: Iterable[str]) -> Iterator[SseEvent]:
    """Events from an SSE body's lines; comments seen before an event are attached to it (a trailing
    comment-only block is yielded as an event with no data)."""
    current = SseEvent()
    for line in lines:
        if line == "":
            if current.data or current.id is not None or current.event or current.comments:
                yield current
            current = SseEvent()
        elif line.startswith(":"):
            current.comments.append(line[1:].strip())
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "id":
                current.id = value
            elif name == "event":
                current.event = value
            elif name == "data":
                current.data = f"{current.data}\n{value}" if current.data else value
    if current.data or current.comments:
        yield current
