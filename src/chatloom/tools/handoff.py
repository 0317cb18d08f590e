"""Dynamic hand-off destinations: Vapi's `handoff-destination-request` server message, POSTed to the
destination's server; its answer (`{"destination": {...}}`) names where the conversation goes.

Any failure (refused URL, unreachable server, non-2xx, unreadable body, an `error` or no destination in
the answer) is returned as a reason the model sees in its tool result; the turn goes on.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from chatloom.domain.errors import OutboundUrlRefused
from chatloom.outbound.http import OutboundFailure, OutboundHttp
from chatloom.outbound.vapi_server import post_message


@dataclass(frozen=True, slots=True)
class DestinationAnswer:
    destination: dict[str, Any] | None = None
    error: str | None = None


class HandoffDestinationClient:
    def __init__(self, http: OutboundHttp, default_secret: str | None = None) -> None:
        self.http = http
        self.default_secret = default_secret

    async def ask(
        self,
        server: Mapping[str, Any],
        parameters: Mapping[str, Any],
        chat: Mapping[str, Any],
        assistant: Mapping[str, Any],
    ) -> DestinationAnswer:
        message = {
            "type": "handoff-destination-request",
            "timestamp": int(time.time() * 1000),
            "parameters": dict(parameters),
            "chat": dict(chat),
            "assistant": dict(assistant),
        }
        try:
            response = await post_message(self.http, server, message, self.default_secret)
        except OutboundUrlRefused as refused:
            return DestinationAnswer(error=f"the hand-off server URL was refused: {refused.message!s}")
        except OutboundFailure as failure:
            return DestinationAnswer(error=f"the hand-off server could not be reached: {failure}")
        if not 200 <= response.status < 300:
            return DestinationAnswer(error=f"the hand-off server answered HTTP {response.status}")
        try:
            body = orjson.loads(response.body)
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            return DestinationAnswer(error="the hand-off server's answer is not a JSON object")
        if body.get("error"):
            return DestinationAnswer(error=f"the hand-off server refused: {body['error']}")
        destination = body.get("destination")
        if not isinstance(destination, dict):
            return DestinationAnswer(error="the hand-off server named no destination")
        return DestinationAnswer(destination=destination)
