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
        self.delta_heads: dict[int, bytes] = {}
        """Per output index, a delta payload's JSON up to its `delta` value: `{"id":…,"path":…,"delta":`."""

    def _frame(self, data: bytes) -> bytes:
        frame = b"id: %d\ndata: %b\n\n" % (self.sequence, data)
        self.sequence += 1
        return frame

    def _payload_fields(self, **fields: Any) -> dict[str, Any]:
        payload: dict[str, Any] = {"id": self.chat_id}
        if self.session_id is not None:
            payload["sessionId"] = self.session_id
        payload.update(fields)
        return payload

    def _payload(self, **fields: Any) -> bytes:
        return self._frame(orjson.dumps(self._payload_fields(**fields)))

    def _delta_head(self, output_index: int) -> bytes:
        """A delta payload of output message `output_index` up to its text: `{"id":…,"path":…,"delta":`
        (orjson writes a dict's keys in order, with no spaces, so this and the text make the payload)."""
        fields = self._payload_fields(path=f"chat.output[{output_index}].content")
        head = self.delta_heads[output_index] = orjson.dumps(fields)[:-1] + b',"delta":'
        return head

    def on_event(self, event: TurnEvent) -> list[bytes]:
        if isinstance(event, TurnDelta):
            # The same bytes as `_payload(path=…, delta=event.text)`, without a dict per delta: the
            # payload's head is the same for every delta of an output message.
            head = self.delta_heads.get(event.output_index) or self._delta_head(event.output_index)
            frame = b"id: %d\ndata: %b%b}\n\n" % (self.sequence, head, orjson.dumps(event.text))
            self.sequence += 1
            return [frame]
        if isinstance(event, TurnStarted):
            self.chat_id, self.session_id = event.chat_id, event.session_id
            self.delta_heads.clear()
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
