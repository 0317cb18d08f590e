"""Server messages (webhooks), delivered off the request path: `dispatch` returns at once and never raises.

Each message is POSTed as `{"message": {...}}` to the server's `url` with its `headers`, retried per its
`backoffPlan`, signed with HMAC-SHA256 when a secret is set (see docs/webhooks.md), without any secret in
its body or the id of the request that caused it missing from its headers (outbound/vapi_server.py), and its
outcome logged
on `chatloom.webhooks` without headers, secrets or bodies.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from chatloom.domain.errors import ChatloomError, OutboundUrlRefused
from chatloom.observability.hooks import Observer
from chatloom.outbound.http import Backoff, OutboundFailure, OutboundHttp, Signer
from chatloom.outbound.signing import signer_for
from chatloom.outbound.vapi_server import message_body, server_headers

logger = logging.getLogger("chatloom.webhooks")

MIN_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS = 1.0, 300.0
REASON_LIMIT = 300
DEFAULT_BACKOFF = Backoff(max_retries=4, base_delay_seconds=1.0)
"""Five attempts over about 15 s: 1, 2, 4 and 8 s apart."""


class WebhookDispatcher:
    """Sends server messages in background tasks. The `OutboundHttp` is shared and stays the caller's
    to close; `aclose` only abandons deliveries still in flight."""

    def __init__(
        self,
        http: OutboundHttp,
        default_secret: str | None = None,
        default_backoff: Backoff = DEFAULT_BACKOFF,
        timeout_seconds: float = 20.0,
        observer: Observer | None = None,
    ) -> None:
        self.observer = observer or Observer()
        self.http = http
        self.default_secret = default_secret
        self.default_backoff = default_backoff
        self.timeout_seconds = timeout_seconds
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def dispatch(
        self,
        server: Mapping[str, Any],
        message: dict[str, Any],
        auth: Callable[[], Awaitable[Mapping[str, str]]] | None = None,
    ) -> None:
        """Starts delivering `message` to `server["url"]` (nothing without a url) and returns at once.
        `auth` gives the headers of the server's `credentialId`, looked up off the request path."""
        kind = message.get("type") if isinstance(message, Mapping) else None
        try:
            self._start(server, message, auth)
        except Exception as error:  # a webhook must never fail the request that caused it
            reason = f"{type(error).__name__}: {error}"[:REASON_LIMIT]
            logger.warning(
                "webhook %s not sent: %s", kind, reason, extra={"webhook_type": kind, "reason": reason}
            )

    def _start(
        self,
        server: Mapping[str, Any],
        message: dict[str, Any],
        auth: Callable[[], Awaitable[Mapping[str, str]]] | None,
    ) -> None:
        url = server.get("url") if isinstance(server, Mapping) else None
        if not isinstance(url, str) or not url:
            return
        loop = asyncio.get_running_loop()
        kind = str(message.get("type", "unknown"))
        envelope = {**message}
        envelope.setdefault("timestamp", int(time.time() * 1000))
        # Encoded now: the bytes sent (and signed) are the message as it was when dispatched; the headers
        # carry the id of the request being served now.
        body = message_body(envelope)
        headers = server_headers(server)
        delivery = self._deliver(
            kind,
            url,
            body,
            headers,
            timeout_seconds(server.get("timeoutSeconds"), self.timeout_seconds),
            Backoff.from_plan(server.get("backoffPlan"), self.default_backoff),
            signer_for(server.get("secret"), self.default_secret),
            auth,
        )
        task = loop.create_task(delivery, name=f"webhook {kind}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(
        self,
        kind: str,
        url: str,
        body: bytes,
        headers: dict[str, str],
        seconds: float,
        backoff: Backoff,
        sign: Signer | None,
        auth: Callable[[], Awaitable[Mapping[str, str]]] | None = None,
    ) -> None:
        host = display_host(url)
        facts: dict[str, Any] = {"webhook_type": kind, "host": host}
        span = self.observer.start_span(
            f"webhook {kind}", {"chatloom.webhook.type": kind, "server.address": host}
        )
        try:
            if auth is not None:
                # The server's own headers win over its credential's, as for tool servers.
                headers = {**(await auth()), **headers}
            response = await self.http.request(
                "POST",
                url,
                content=body,
                headers=headers,
                timeout_seconds=seconds,
                backoff=backoff,
                field="server.url",
                sign=sign,
            )
        except OutboundUrlRefused as refused:
            reason = f"refused URL: {refused.message}"
        except OutboundFailure as failure:
            reason = str(failure)
        except asyncio.CancelledError:
            logger.warning("webhook %s to %s abandoned: shutting down", kind, host, extra=facts)
            self.observer.webhook_delivered("abandoned")
            self.observer.end_span(span, "abandoned")
            raise
        except ChatloomError as error:  # e.g. the server's credentialId names no credential
            reason = error.message_text
        except Exception as error:  # a bug must not leave an unretrieved task exception behind
            reason = f"unexpected {type(error).__name__}"
        else:
            facts.update(status=response.status, attempts=response.attempts)
            if 200 <= response.status < 300:
                logger.info(
                    "webhook %s delivered to %s: HTTP %d after %d attempt(s)",
                    kind,
                    host,
                    response.status,
                    response.attempts,
                    extra=facts,
                )
                self.observer.webhook_delivered("delivered")
                self.observer.end_span(span)
                return
            reason = f"HTTP {response.status} after {response.attempts} attempt(s)"
        logger.warning("webhook %s to %s failed: %s", kind, host, reason, extra={**facts, "reason": reason})
        self.observer.webhook_delivered("failed")
        self.observer.end_span(span, reason)

    async def drain(self, grace_seconds: float) -> None:
        """Waits up to `grace_seconds` for deliveries in flight, including ones started meanwhile."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_seconds
        while self._tasks:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            await asyncio.wait(set(self._tasks), timeout=remaining)

    async def aclose(self) -> None:
        """Cancels deliveries still in flight (each is logged as abandoned) and waits for them to end."""
        tasks = set(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


def timeout_seconds(value: Any, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return default
    return float(min(max(value, MIN_TIMEOUT_SECONDS), MAX_TIMEOUT_SECONDS))


def display_host(url: str) -> str:
    """`host[:port]` for logs: no credentials, path or query."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return (parts.hostname or "?") + (f":{port}" if port is not None else "")
