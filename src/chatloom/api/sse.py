"""Server-sent-event framing of a turn's events in Vapi's shape: `data: {id, sessionId?, path, delta}`
per text chunk, an error frame on failure, then `data: [DONE]`; each frame carries an `id:` line (its
sequence number, from 0) so a client can resume after it with `Last-Event-ID`.

Every payload is single-line JSON (orjson never emits a newline), so one `data:` line per event is a
complete SSE frame.
"""

from __future__ import annotations

from typing import Any

import orjson

from chatloom.api.errors import vapi_status
from chatloom.domain.errors import ChatloomError
from chatloom.domain.events import TurnDelta, TurnEvent, TurnFailed, TurnStarted

DONE = b"data: [DONE]\n\n"
HEARTBEAT = b": keep-alive\n\n"
"""An SSE comment: clients ignore it, proxies count it as traffic."""
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
CANCELLED = {"message": "the turn was cancelled", "type": "cancelled"}


def data_frame(payload: Any) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


ERROR_TYPES = {400: "upstream_rejected", 502: "upstream_error", 504: "upstream_timeout"}


def error_payload(error: Exception) -> dict[str, Any]:
    status = vapi_status(error)
    message = error.message if isinstance(error, ChatloomError) and status != 500 else "Internal server error"
    return {"message": message, "type": ERROR_TYPES.get(status, "server_error"), "statusCode": status}


class VapiFraming:
    """A turn's events as numbered Vapi frames (`kind` "chat" in the relay)."""

    kind = "chat"

    def __init__(self) -> None:
        self.sequence = 0
        self.chat_id = ""
        self.session_id: str | None = None
        self.paths: dict[int, str] = {}

    def _frame(self, data: bytes) -> bytes:
        frame = b"id: %d\ndata: %b\n\n" % (self.sequence, data)
        self.sequence += 1
        return frame

    def _payload(self, **fields: Any) -> bytes:
        payload: dict[str, Any] = {"id": self.chat_id}
        if self.session_id is not None:
            payload["sessionId"] = self.session_id
        payload.update(fields)
        return self._frame(orjson.dumps(payload))

    def on_event(self, event: TurnEvent) -> list[bytes]:
        if isinstance(event, TurnDelta):
            path = self.paths.get(event.output_index)
            if path is None:
                path = self.paths[event.output_index] = f"chat.output[{event.output_index}].content"
            return [self._payload(path=path, delta=event.text)]
        if isinstance(event, TurnStarted):
            self.chat_id, self.session_id = event.chat_id, event.session_id
        elif isinstance(event, TurnFailed):
            self.chat_id = self.chat_id or event.chat_id
            return [self._payload(error=error_payload(event.error))]
        return []

    def closing(self) -> list[bytes]:
        return [self._frame(b"[DONE]")]

    def cancelled(self) -> list[bytes]:
        return [self._payload(error=CANCELLED), *self.closing()]

    def snapshot(self) -> bytes | None:
        return None


def vapi_frames() -> VapiFraming:
    return VapiFraming()
