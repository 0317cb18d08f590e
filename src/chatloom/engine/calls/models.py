"""Calls a model robustly: retries with jittered backoff, fallback models, and an overall deadline.

Retried: rate limits (429), server errors (5xx) and broken connections, honouring `Retry-After`, up to
`max_retries` extra attempts per model and within the retry time budget. When a model still fails,
the assistant's `fallbackModels` (same provider) are tried in order. A stream is never retried once
its first token has been passed on: the client has already seen it.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

from chatloom.domain.errors import ChatloomError, UpstreamError, UpstreamTimeout
from chatloom.domain.events import ModelReply, TextChunk
from chatloom.observability.hooks import Observer
from chatloom.providers.attachment_fetch import AttachmentFetcher, to_fetch
from chatloom.providers.base import ChatProvider, ModelRequest

log = logging.getLogger("chatloom.models")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int = 2
    base_delay_seconds: float = 0.5
    max_delay_seconds: float = 8.0
    budget_seconds: float = 30.0
    """Longest all waiting between attempts of one model call may add up to."""
    turn_timeout_seconds: float = 300.0
    """Longest one model call may take in all, retries and fallbacks included."""

    def delay(self, attempt: int, retry_after: float | None) -> float:
        backoff = random.uniform(0, min(self.max_delay_seconds, self.base_delay_seconds * 2**attempt))
        return max(retry_after, backoff) if retry_after is not None else backoff


def error_class(error: UpstreamError) -> str:
    """The class of an upstream failure, for metrics: timeout, rate_limit, server, client or connection."""
    if isinstance(error, UpstreamTimeout):
        return "timeout"
    if error.status is None:
        return "connection"
    if error.status == 429:
        return "rate_limit"
    return "server" if error.status >= 500 else "client"


def retryable(error: Exception) -> bool:
    if isinstance(error, UpstreamTimeout):
        return False
    return isinstance(error, UpstreamError) and (
        error.status is None or error.status == 429 or error.status >= 500
    )


class ModelCaller:
    def __init__(
        self,
        policy: RetryPolicy,
        observer: Observer | None = None,
        attachments: AttachmentFetcher | None = None,
    ) -> None:
        self.policy = policy
        self.observer = observer or Observer()
        self.attachments = attachments
        """Fetches remote attachments once per call, before its retries and fallbacks (None: never)."""

    def _models(self, request: ModelRequest, fallbacks: list[str]) -> list[ModelRequest]:
        return [request, *(replace(request, model=model) for model in fallbacks if model != request.model)]

    async def _pause(self, error: UpstreamError, attempt: int, waited: float, model: str) -> float | None:
        """Sleeps before the next attempt and returns the new total wait, or None when out of retries."""
        if attempt >= self.policy.max_retries or not retryable(error):
            return None
        delay = self.policy.delay(attempt, error.retry_after)
        if waited + delay > self.policy.budget_seconds:
            return None
        log.info("retrying %s in %.2fs after: %s", model, delay, error.message)
        await asyncio.sleep(delay)
        return waited + delay

    async def _retry(
        self,
        error: UpstreamError | UpstreamTimeout,
        candidate: ModelRequest,
        started: bool,
        attempt: int,
        waited: float,
    ) -> float | None:
        """After a failed attempt: the total wait before the next one, None to move to the next model; raises
        when the stream had already passed a token on (the client has seen it)."""
        if isinstance(error, UpstreamTimeout):
            self.observer.upstream_error(candidate.provider, "timeout", retried=False)
            if started:
                raise error
            return None
        if started:
            self.observer.upstream_error(candidate.provider, error_class(error), retried=False)
            raise error
        next_wait = await self._pause(error, attempt, waited, candidate.model)
        self.observer.upstream_error(candidate.provider, error_class(error), retried=next_wait is not None)
        return next_wait

    async def complete(
        self, adapter: ChatProvider, request: ModelRequest, fallbacks: list[str]
    ) -> ModelReply:
        """One non-streamed model call, with retries and fallbacks."""
        reply: ModelReply | None = None
        async for item in self._call(adapter, request, fallbacks, streamed=False):
            if isinstance(item, ModelReply):
                reply = item
        assert reply is not None
        return reply

    def stream(
        self, adapter: ChatProvider, request: ModelRequest, fallbacks: list[str]
    ) -> AsyncIterator[TextChunk | ModelReply]:
        """A streamed model call, retried or moved to a fallback only until its first token."""
        return self._call(adapter, request, fallbacks, streamed=True)

    async def _call(
        self, adapter: ChatProvider, request: ModelRequest, fallbacks: list[str], streamed: bool
    ) -> AsyncIterator[TextChunk | ModelReply]:
        """The attempts of one call, models in order, within the call's deadline. One generator, not a
        deadline around a generator of attempts: each streamed chunk passes one level fewer."""
        try:
            async with asyncio.timeout(self.policy.turn_timeout_seconds):
                images = getattr(adapter, "needs_image_bytes", False)
                if self.attachments is not None and to_fetch(request.messages, images):
                    messages = await self.attachments.inlined(request.messages, images)
                    request = replace(request, messages=messages)
                failure: UpstreamError | UpstreamTimeout | None = None
                for candidate in self._models(request, fallbacks):
                    attempt, waited = 0, 0.0
                    while True:
                        started = False
                        try:
                            if streamed:
                                async for item in adapter.stream(candidate):
                                    started = started or isinstance(item, TextChunk)
                                    yield item
                            else:
                                yield await adapter.complete(candidate)
                            return
                        except (UpstreamError, UpstreamTimeout) as error:
                            error.redact(candidate.secrets)
                            failure = error
                            next_wait = await self._retry(error, candidate, started, attempt, waited)
                            if next_wait is None:
                                break
                            attempt, waited = attempt + 1, next_wait
                        except ChatloomError as error:  # e.g. "Incorrect API key provided: sk-…"
                            error.redact(candidate.secrets)
                            raise
                    log.warning("model %s failed: %s", candidate.model, failure.message)
                assert failure is not None
                raise failure
        except TimeoutError as error:
            limit = self.policy.turn_timeout_seconds
            raise UpstreamTimeout(f"the model did not finish within {limit:g} seconds") from error
