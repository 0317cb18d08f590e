"""Whether a `/chat/responses` request without `stream` wants a stream, read from its `Accept` header.

Vapi's spec makes `stream` default to true there; OpenAI's API and SDKs default to one JSON answer and send
`Accept: application/json` (the Agents SDK's `Runner.run` sends no `stream` and cannot read a stream). So:
`application/json` preferred → JSON; `text/event-stream` preferred → a stream; no preference (`*/*`, no
header, curl) → Vapi's default, a stream. An explicit `stream` in the body always wins.
"""

from __future__ import annotations

JSON = "application/json"
EVENT_STREAM = "text/event-stream"
MAX_RANGES = 32


def quality(header: str, media_type: str) -> float:
    """The `q` the header gives exactly `media_type` (0 when it is not listed)."""
    for index, part in enumerate(header.split(",")):
        if index >= MAX_RANGES:
            break
        name, _, params = part.strip().partition(";")
        if name.strip().lower() != media_type:
            continue
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    return 0.0
                return min(max(q, 0.0), 1.0) if q == q else 0.0  # NaN is no preference
        return 1.0
    return 0.0


def wants_stream(accept: str | None) -> bool:
    if not accept:
        return True
    as_json, as_stream = quality(accept, JSON), quality(accept, EVENT_STREAM)
    return not (as_json > as_stream)
