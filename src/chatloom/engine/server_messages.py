"""Server messages (webhooks) about chats and sessions, sent to the assistant's `server.url`.

Only the types listed in `serverMessages` are sent; `assistantOverrides.server` and
`.serverMessages` (of a chat or a session) take precedence over the assistant's. Sending never waits:
the dispatcher delivers in the background, with retries, and a failing endpoint never fails a request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class Dispatcher(Protocol):
    def dispatch(self, server: Mapping[str, Any], message: dict[str, Any]) -> None: ...


class ServerMessages:
    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher

    def send(
        self,
        kind: str,
        assistant: Mapping[str, Any] | None,
        overrides: Mapping[str, Any] | None,
        payload: dict[str, Any],
    ) -> None:
        assistant = assistant or {}
        overrides = overrides or {}
        enabled = overrides.get("serverMessages", assistant.get("serverMessages")) or []
        server = overrides.get("server") or assistant.get("server")
        if kind not in enabled or not isinstance(server, dict) or not server.get("url"):
            return
        message: dict[str, Any] = {"type": kind, **payload}
        if assistant:
            message.setdefault("assistant", public_assistant(assistant))
        self.dispatcher.dispatch(server, message)


def public_assistant(assistant: Mapping[str, Any]) -> dict[str, Any]:
    """The assistant as sent to webhooks: without the server's secret."""
    document = dict(assistant)
    server = document.get("server")
    if isinstance(server, dict) and "secret" in server:
        document["server"] = {k: v for k, v in server.items() if k != "secret"}
    return document
