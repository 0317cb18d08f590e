"""A guarded HTTP client for requests to user-supplied URLs (tool servers, apiRequest tools, webhooks).

Every URL, each redirect target included, passes `OutboundPolicy.check_url`, and every host name is
resolved by a `GuardedResolver` at connect time. Retries follow a Vapi `BackoffPlan`. Failure messages
name the method and origin only: never a path, query string, header or body (they may carry secrets).
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import aiohttp
import orjson
from multidict import CIMultiDict

from chatloom.domain.errors import OutboundUrlRefused
from chatloom.outbound.bounded import AnswerTooLarge, read_bounded
from chatloom.outbound.guard import GuardedResolver, OutboundPolicy

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_DELAY_SECONDS = 120.0
"""The longest one wait between attempts, whatever the plan or `Retry-After` say (a task waiting longer
than this holds its message in memory for nothing)."""
RESOLVER_REFUSAL = "may not contact"
"""How `GuardedResolver` words a refusal at connect time (pinned by tests/unit/test_outbound.py)."""
BODY_HEADERS = ("content-type", "content-length", "content-encoding")

Signer = Callable[[bytes], Mapping[str, str]]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Vapi's `BackoffPlan`: how often, and how long apart, a failed request is tried again."""

    max_retries: int = 0
    base_delay_seconds: float = 1.0
    kind: Literal["exponential", "fixed"] = "exponential"
    excluded_status_codes: frozenset[int] = frozenset()

    @classmethod
    def from_plan(cls, plan: Mapping[str, Any] | None, default: Backoff) -> Backoff:
        """Reads `{type, maxRetries, baseDelaySeconds, excludedStatusCodes}`; a missing or invalid field
        keeps `default`'s value, numbers are clamped to Vapi's limits (0 to 10)."""
        if not isinstance(plan, Mapping):
            return default
        kind = plan.get("type")
        retries = _number(plan.get("maxRetries"), 0, 10)
        delay = _number(plan.get("baseDelaySeconds"), 0, 10)
        excluded = plan.get("excludedStatusCodes")
        return cls(
            max_retries=default.max_retries if retries is None else int(retries),
            base_delay_seconds=default.base_delay_seconds if delay is None else delay,
            kind=kind if kind == "exponential" or kind == "fixed" else default.kind,
            excluded_status_codes=(
                frozenset(_status_codes(excluded))
                if isinstance(excluded, list)
                else default.excluded_status_codes
            ),
        )

    def retries_status(self, status: int) -> bool:
        """429 and 5xx are worth another attempt, unless the plan excludes the status."""
        return (status == 429 or 500 <= status <= 599) and status not in self.excluded_status_codes

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """The wait before retry number `attempt` (0-based); a larger `Retry-After` wins."""
        factor = 2 ** min(attempt, 32) if self.kind == "exponential" else 1
        seconds = max(self.base_delay_seconds * factor, retry_after or 0.0, 0.0)
        return min(seconds, MAX_DELAY_SECONDS)


@dataclass(frozen=True, slots=True)
class OutboundResponse:
    """The final answer (after redirects and retries); its body is at most `max_response_bytes` long (a
    longer answer is an `OutboundFailure`)."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    attempts: int = 1


class OutboundFailure(Exception):
    """No HTTP answer: connection refused or broken, timeout, too many redirects, an address refused at
    connect time. The message names the method and origin, never a path, header or body."""

    def __init__(self, message: str, attempts: int = 1) -> None:
        super().__init__(message)
        self.attempts = attempts


class _AttemptFailed(Exception):
    def __init__(self, reason: str, retryable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


class OutboundHttp:
    """One shared aiohttp session (created lazily in the running loop) for all user-supplied URLs.

    No proxies from the environment (they would bypass the resolver guard) and no cookie jar (cookies
    set by one tenant's server must never reach another tenant's request).
    """

    def __init__(
        self,
        policy: OutboundPolicy,
        max_connections: int = 100,
        max_response_bytes: int = 16 * 1024 * 1024,
        max_redirects: int = 5,
    ) -> None:
        self.policy = policy
        self._max_connections = max_connections
        self._max_response_bytes = max_response_bytes
        self._max_redirects = max_redirects
        self._session: aiohttp.ClientSession | None = None
        self._resolver: GuardedResolver | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _client(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            self._resolver = GuardedResolver(self.policy)
            connector = aiohttp.TCPConnector(limit=self._max_connections, resolver=self._resolver)
            self._session = aiohttp.ClientSession(
                connector=connector,
                trust_env=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=aiohttp.ClientTimeout(total=None),
                headers={"User-Agent": "chatloom"},
            )
            self._loop = loop
        return self._session

    async def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, Any] | None = None,
        timeout_seconds: float = 20.0,
        backoff: Backoff | None = None,
        field: str = "url",
        sign: Signer | None = None,
        max_response_bytes: int | None = None,
    ) -> OutboundResponse:
        """Sends `json` (orjson-encoded, `content-type: application/json`) or raw `content` bytes.
        `max_response_bytes` bounds this answer (default: the client's bound).

        `timeout_seconds` bounds each attempt, redirects and body included. `sign(body)` adds headers
        computed for each attempt from the exact bytes sent (e.g. a signature with a fresh timestamp).
        Raises `OutboundUrlRefused` for a refused URL (first or redirect) and `OutboundFailure` when no
        attempt got an answer; any HTTP status is returned, after the retries `backoff` allows.
        """
        self.policy.check_url(url, field)
        if json is not None and content is not None:
            raise ValueError("pass either json or content, not both")
        body = orjson.dumps(json) if json is not None else content
        sent_headers = CIMultiDict[str]()
        for name, value in (headers or {}).items():
            if value is not None:
                sent_headers[str(name)] = value if isinstance(value, str) else str(value)
        if json is not None and "content-type" not in sent_headers:
            sent_headers["content-type"] = "application/json"
        plan = backoff or Backoff()
        verb = method.upper()
        attempt = 0
        while True:
            try:
                async with asyncio.timeout(timeout_seconds):
                    response = await self._follow(
                        verb, url, body, params, sent_headers, field, sign, max_response_bytes
                    )
            except _AttemptFailed as failed:
                if not failed.retryable or attempt >= plan.max_retries:
                    raise _failure(failed.reason, attempt + 1) from failed.__cause__
                delay = plan.delay(attempt)
            except TimeoutError:
                reason = f"{verb} {origin(url)}: no answer within {timeout_seconds:g} s"
                if attempt >= plan.max_retries:
                    raise _failure(reason, attempt + 1) from None
                delay = plan.delay(attempt)
            else:
                if attempt >= plan.max_retries or not plan.retries_status(response.status):
                    return replace(response, attempts=attempt + 1)
                delay = plan.delay(attempt, retry_after(response.headers))
            await asyncio.sleep(delay)
            attempt += 1

    async def _follow(
        self,
        method: str,
        url: str,
        body: bytes | None,
        params: Mapping[str, str] | None,
        headers: CIMultiDict[str],
        field: str,
        sign: Signer | None,
        max_response_bytes: int | None = None,
    ) -> OutboundResponse:
        """One attempt: the request and the redirects it leads to, each target checked by the policy."""
        session = self._client()
        limit = max_response_bytes or self._max_response_bytes
        for _hop in range(self._max_redirects + 1):
            sent = CIMultiDict(headers)
            if sign is not None:
                sent.update(sign(body or b""))
            try:
                async with session.request(
                    method, url, data=body, params=params, headers=sent, allow_redirects=False
                ) as response:
                    location = response.headers.get("Location")
                    if response.status not in REDIRECT_STATUSES or not location:
                        try:
                            data = await read_bounded(response, limit)
                        except AnswerTooLarge:
                            response.close()  # the rest is never read: this connection is not reusable
                            raise
                        return OutboundResponse(response.status, response.headers, data)
                    status, target = response.status, urljoin(str(response.url), location.strip())
            except AnswerTooLarge as error:
                raise _AttemptFailed(
                    f"{method} {origin(url)}: the answer is larger than {error.limit} bytes, the limit "
                    "CHATLOOM_MAX_UPSTREAM_BYTES sets",
                    False,
                ) from error
            except (aiohttp.ClientError, OSError, ValueError) as error:
                raise _AttemptFailed(
                    f"{method} {origin(url)}: {describe(error)}", retryable(error)
                ) from error
            target = target.split("#", 1)[0]
            self.policy.check_url(target, field)
            if status == 303 or (status in (301, 302) and method == "POST"):
                method = "GET" if method != "HEAD" else method
                body = None
                headers = CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in BODY_HEADERS)
            if not same_trust(url, target):
                # Credentials in the caller's headers are for the origin it named, not for wherever
                # that origin sends us; only the body's own description goes along.
                headers = CIMultiDict((k, v) for k, v in headers.items() if k.lower() in BODY_HEADERS)
                sign = None
            url, params = target, None
        raise _AttemptFailed(
            f"{method} {origin(url)}: too many redirects (more than {self._max_redirects})", False
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._resolver is not None:
            await self._resolver.close()
        self._session = self._resolver = self._loop = None


def _failure(reason: str, attempts: int) -> OutboundFailure:
    suffix = f" ({attempts} attempts)" if attempts > 1 else ""
    return OutboundFailure(reason + suffix, attempts)


def origin(url: str) -> str:
    """`scheme://host[:port]` of a URL: enough to say where, without credentials, path or query."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


def same_trust(source: str, target: str) -> bool:
    """Whether the caller's headers may follow a redirect: same host, and no https → http downgrade."""
    before, after = urlsplit(source), urlsplit(target)
    downgraded = before.scheme == "https" and after.scheme != "https"
    return before.hostname == after.hostname and not downgraded


def retryable(error: BaseException) -> bool:
    """Connection failures and timeouts may pass; a refused address or a TLS failure will not."""
    if isinstance(error, aiohttp.ClientSSLError):
        return False
    if isinstance(error, aiohttp.ClientConnectorError) and RESOLVER_REFUSAL in str(error.os_error):
        return False
    return isinstance(error, aiohttp.ClientConnectionError | aiohttp.ClientPayloadError | TimeoutError) or (
        isinstance(error, OSError) and not isinstance(error, aiohttp.ClientError)
    )


def describe(error: BaseException) -> str:
    """What went wrong, in words that carry no header or body (aiohttp's messages for bad headers may)."""
    if isinstance(error, aiohttp.ClientConnectorError):
        if RESOLVER_REFUSAL in str(error.os_error):
            return f"refused at connect time: {error.os_error}"
        reason = os.strerror(error.errno) if error.errno else str(error.os_error) or "connection failed"
        return f"could not connect to {error.host}:{error.port}: {reason}"
    if isinstance(error, aiohttp.ServerDisconnectedError):
        return "the server closed the connection without answering"
    if isinstance(error, aiohttp.ClientConnectionError | aiohttp.ClientPayloadError | OSError):
        return f"the connection failed ({type(error).__name__})"
    return f"the request could not be sent or its answer read ({type(error).__name__})"


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from `retry-after-ms` (OpenAI's), or `Retry-After` as seconds or an HTTP date."""
    milliseconds = headers.get("retry-after-ms")
    if milliseconds:
        try:
            seconds = float(milliseconds) / 1000
        except ValueError:
            pass
        else:
            return max(0.0, seconds) if math.isfinite(seconds) else None
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _number(value: Any, low: float, high: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(min(max(value, low), high))


def _status_codes(values: list[Any]) -> list[int]:
    """Status codes given as numbers or numeric strings (Vapi's schema types them loosely)."""
    numbers = (
        int(v) if isinstance(v, str) and v.strip().isascii() and v.strip().isdigit() and len(v) < 8 else v
        for v in values
    )
    return [
        int(n)
        for n in numbers
        if isinstance(n, int | float) and not isinstance(n, bool) and float(n).is_integer()
    ]


__all__ = ["Backoff", "OutboundFailure", "OutboundHttp", "OutboundResponse", "OutboundUrlRefused"]
