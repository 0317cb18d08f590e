"""Server messages (webhooks) about chats and sessions, sent to the assistant's `server.url`.

Only the types listed in `serverMessages` are sent; `assistantOverrides.server` and
`.serverMessages` (of a chat or a session) take precedence over the assistant's. Sending never waits:
the dispatcher delivers in the background, with retries, and a failing endpoint never fails a request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from chatloom.engine.assistant_cache import AssistantCache
from chatloom.store import assistants
from chatloom.store.db import Database


class Dispatcher(Protocol):
    def dispatch(self, server: Mapping[str, Any], message: dict[str, Any]) -> None: ...


class ServerMessages:
    def __init__(self, dispatcher: Dispatcher, db: Database, cache: AssistantCache) -> None:
        self.dispatcher = dispatcher
        self.db = db
        self.cache = cache

    async def about(
        self, kind: str, org_id: str, document: Mapping[str, Any], payload: dict[str, Any]
    ) -> None:
        """Sends `kind` about a chat or session document, to the server of its assistant (inline, or
        stored: from the cache, else read after the caller's transaction is over)."""
        assistant = document.get("assistant")
        assistant_id = document.get("assistantId")
        if assistant_id is not None:
            assistant = self.cache.get(org_id, assistant_id)
            if assistant is None:
                async with self.db.read() as conn:
                    assistant = await assistants.get(conn, org_id, assistant_id)
        self.send(
            kind,
            assistant if isinstance(assistant, dict) else None,
            document.get("assistantOverrides"),
            payload,
        )

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
