"""Server-sent-event framing of a turn's events in Vapi's shape: `data: {id, sessionId?, path, delta}`
per text chunk, an error frame on failure, then `data: [DONE]`.

Every payload is single-line JSON (orjson never emits a newline), so one `data:` line per event is a
complete SSE frame.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from chatloom.api.errors import vapi_status
from chatloom.domain.errors import ChatloomError
from chatloom.domain.events import TurnDelta, TurnEvent, TurnFailed

DONE = b"data: [DONE]\n\n"
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def data_frame(payload: Any) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


ERROR_TYPES = {400: "upstream_rejected", 502: "upstream_error", 504: "upstream_timeout"}


def error_payload(error: Exception) -> dict[str, Any]:
    status = vapi_status(error)
    message = error.message if isinstance(error, ChatloomError) and status != 500 else "Internal server error"
    return {"message": message, "type": ERROR_TYPES.get(status, "server_error"), "statusCode": status}


async def vapi_frames(events: AsyncIterator[TurnEvent]) -> AsyncIterator[bytes]:
    paths: dict[int, str] = {}
    async for event in events:
        if isinstance(event, TurnDelta):
            path = paths.get(event.output_index)
            if path is None:
                path = paths[event.output_index] = f"chat.output[{event.output_index}].content"
            frame: dict[str, Any] = {"id": event.chat_id}
            if event.session_id is not None:
                frame["sessionId"] = event.session_id
            frame["path"] = path
            frame["delta"] = event.text
            yield data_frame(frame)
        elif isinstance(event, TurnFailed):
            payload: dict[str, Any] = {"id": event.chat_id}
            if event.session_id is not None:
                payload["sessionId"] = event.session_id
            payload["error"] = error_payload(event.error)
            yield data_frame(payload)
    yield DONE
