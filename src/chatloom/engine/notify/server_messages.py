"""Server messages (webhooks) about chats and sessions, sent to the assistant's `server.url`.

Only the types listed in `serverMessages` are sent; `assistantOverrides.server` and
`.serverMessages` (of a chat or a session) take precedence over the assistant's. Sending never waits:
the dispatcher delivers in the background, with retries, and a failing endpoint never fails a request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from chatloom.domain.attachments import shown_document
from chatloom.engine.assistants.cache import AssistantCache
from chatloom.store import assistants
from chatloom.store.db import Database

AuthHeaders = Callable[[], Awaitable[Mapping[str, str]]]


class Dispatcher(Protocol):
    def dispatch(
        self, server: Mapping[str, Any], message: dict[str, Any], auth: AuthHeaders | None = None
    ) -> None: ...


class CredentialHeaders(Protocol):
    """The auth headers of one of an org's credentials (`access.credentials.Credentials` has them)."""

    async def headers_for(self, org_id: str, credential_id: str, where: str) -> dict[str, str]: ...


class ServerMessages:
    def __init__(
        self,
        dispatcher: Dispatcher,
        db: Database,
        cache: AssistantCache,
        credentials: CredentialHeaders | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.db = db
        self.cache = cache
        self.credentials = credentials

    async def about(
        self, kind: str, org_id: str, document: Mapping[str, Any], payload: dict[str, Any]
    ) -> None:
        """Sends `kind` about a chat or session document, to the server of its assistant (inline, or
        stored: from the cache, else read after the caller's transaction is over)."""
        assistant = document.get("assistant")
        assistant_id = document.get("assistantId")
        if assistant_id is not None:
            cached = self.cache.get(org_id, assistant_id)
            assistant = cached[0] if cached is not None else None
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
        # Secrets are removed from the whole message when it is sent (outbound/vapi_server.py).
        # Attachments show as markers (`[image]`): their data is the chat's, never a webhook's.
        message: dict[str, Any] = {"type": kind}
        message.update((k, shown_document(v) if isinstance(v, dict) else v) for k, v in payload.items())
        if assistant:
            message.setdefault("assistant", dict(assistant))
        self.dispatcher.dispatch(server, message, self._auth(server, payload))

    def _auth(self, server: Mapping[str, Any], payload: Mapping[str, Any]) -> AuthHeaders | None:
        """The headers of `server.credentialId`, from the org of the chat or session the message is about."""
        credential_id = server.get("credentialId")
        documents = [value for value in payload.values() if isinstance(value, Mapping)]
        org_id = next((d["orgId"] for d in documents if isinstance(d.get("orgId"), str)), None)
        if not credential_id or org_id is None or self.credentials is None:
            return None
        credentials = self.credentials

        async def headers() -> Mapping[str, str]:
            return await credentials.headers_for(org_id, str(credential_id), "server.credentialId")

        return headers
