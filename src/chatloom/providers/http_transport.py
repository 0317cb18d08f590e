"""HTTP plumbing every provider adapter shares: one aiohttp session per adapter, SSE `data:` lines,
and the mapping of transport failures to domain errors (`UpstreamError`, `UpstreamTimeout`).

Error messages carry the upstream's own error message (from its JSON error body, shortened), never a key,
a request header or the raw body (an upstream may be an internal service; its answer is not the caller's to
read). Answers are read within `ModelRequest.max_answer_bytes`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping
from typing import Any

import aiohttp
import orjson
from aiohttp.abc import AbstractResolver

from chatloom.domain.errors import ContextWindowExceeded, InvalidRequest, UpstreamError, UpstreamTimeout
from chatloom.domain.events import ModelReply, TextChunk
from chatloom.outbound.bounded import AnswerTooLarge, read_bounded, read_prefix, stream_lines
from chatloom.outbound.http import retry_after
from chatloom.providers.base import ModelRequest

ERROR_DETAIL_LIMIT = 300
ERROR_BODY_BYTES = 65_536
"""How much of an error answer is read to find its message."""
DRAIN_AFTER_END_SECONDS = 1.0
"""How long to read the rest of a body after a stream's end, so the connection can be reused."""


class HttpSession:
    """The adapter's shared aiohttp session, created in (and bound to) the running event loop."""

    def __init__(
        self, max_connections: int = 1000, trust_env: bool = False, resolver: AbstractResolver | None = None
    ) -> None:
        self._max_connections = max_connections
        self._trust_env = trust_env
        self._resolver = resolver
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def client(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            connector = aiohttp.TCPConnector(limit=self._max_connections, resolver=self._resolver)
            self._session = aiohttp.ClientSession(connector=connector, trust_env=self._trust_env)
            self._loop = loop
        return self._session

    async def post(self, url: str, body: Any, headers: Mapping[str, str], request: ModelRequest) -> Any:
        """One JSON request/response; non-2xx answers raise `UpstreamError` with the upstream's message."""
        timeout = aiohttp.ClientTimeout(total=request.timeout_seconds)
        try:
            async with self.client().post(
                url, data=orjson.dumps(body), headers=headers, timeout=timeout, allow_redirects=False
            ) as response:
                if not 200 <= response.status < 300:
                    raw = await read_prefix(response, ERROR_BODY_BYTES)
                    raise status_error(response.status, response.headers, raw)
                raw = await read_bounded(response, request.max_answer_bytes)
        except AnswerTooLarge as error:
            raise too_large_error(request) from error
        except TimeoutError as error:
            raise timeout_error(request) from error
        except (aiohttp.ClientError, OSError) as error:
            raise connection_error(request, error) from error
        except ValueError as error:  # aiohttp refuses a header with a control character
            raise unsendable_error(request) from error
        return decode_json(raw, request)

    async def open_stream(
        self, url: str, body: Any, headers: Mapping[str, str], request: ModelRequest
    ) -> aiohttp.ClientResponse:
        """Starts a streamed request. The time to the response headers, and then between reads, is bounded
        by the request's timeout (not the whole stream). Non-2xx answers raise `UpstreamError`."""
        seconds = request.timeout_seconds
        timeout = aiohttp.ClientTimeout(total=None, connect=seconds, sock_read=seconds)
        try:
            async with asyncio.timeout(seconds):
                response = await self.client().post(
                    url, data=orjson.dumps(body), headers=headers, timeout=timeout, allow_redirects=False
                )
        except TimeoutError as error:
            raise timeout_error(request) from error
        except (aiohttp.ClientError, OSError) as error:
            raise connection_error(request, error) from error
        except ValueError as error:
            raise unsendable_error(request) from error
        if not 200 <= response.status < 300:
            try:
                raw = await read_body(response, request, ERROR_BODY_BYTES, whole=False)
                raise status_error(response.status, response.headers, raw)
            finally:
                response.release()
        return response

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
        self._session = self._loop = None


async def sse_data(response: aiohttp.ClientResponse, request: ModelRequest) -> AsyncGenerator[bytes, None]:
    """The payload of each SSE `data:` line as it arrives, until the body ends. A broken connection or a
    read timeout becomes `UpstreamError`/`UpstreamTimeout`; deciding whether the stream was complete is
    the dialect's job."""
    try:
        async for line in stream_lines(response, request.max_answer_bytes):
            if line.startswith(b"data:"):
                payload = line[5:].strip()
                if payload:
                    yield payload
    except AnswerTooLarge as error:
        raise too_large_error(request) from error
    except TimeoutError as error:
        raise timeout_error(request) from error
    except (aiohttp.ClientError, OSError) as error:
        raise UpstreamError(f"{request.provider} closed the stream midway") from error


def decode_json(raw: bytes, request: ModelRequest) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise UpstreamError(f"{request.provider} answered with invalid JSON") from error


def token_count(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


async def drain(response: aiohttp.ClientResponse) -> None:
    """Reads what follows `[DONE]` so the connection returns to the pool; closes it if that takes long."""
    try:
        async with asyncio.timeout(DRAIN_AFTER_END_SECONDS):
            await response.content.read()
    except (TimeoutError, aiohttp.ClientError, OSError):
        response.close()


async def read_body(
    response: aiohttp.ClientResponse, request: ModelRequest, limit: int | None = None, whole: bool = True
) -> bytes:
    """The body within the request's timeout: all of it (at most `limit` or the request's answer limit), or
    with `whole=False` only its first `limit` bytes."""
    size = limit if limit is not None else request.max_answer_bytes
    try:
        async with asyncio.timeout(request.timeout_seconds):
            return await (read_bounded(response, size) if whole else read_prefix(response, size))
    except AnswerTooLarge as error:
        raise too_large_error(request) from error
    except TimeoutError as error:
        raise timeout_error(request) from error
    except (aiohttp.ClientError, OSError) as error:
        raise connection_error(request, error) from error


def status_error(
    status: int, headers: Mapping[str, str], raw: bytes
) -> UpstreamError | ContextWindowExceeded:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        data = None
    if status in (400, 413) and context_length_exceeded(data):
        return ContextWindowExceeded(error_detail(data, raw), upstream=True)
    return UpstreamError(
        f"HTTP {status}: {error_detail(data, raw)}", status=status, retry_after=retry_after(headers)
    )


CONTEXT_LENGTH_MESSAGES = re.compile(
    r"maximum context length|context.length.exceeded|prompt is too long|input is too long"
    r"|exceeds the maximum number of tokens",
    re.IGNORECASE,
)
"""How OpenAI (and compatible servers), Anthropic and Google word a request over the model's window."""


def context_length_exceeded(data: Any) -> bool:
    """The provider's own "context length exceeded": OpenAI's `code`, else the wording of its message."""
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and error.get("code") == "context_length_exceeded":
        return True
    message = error.get("message") if isinstance(error, dict) else error
    if not isinstance(message, str) and isinstance(data, dict):
        message = data.get("message")
    return isinstance(message, str) and CONTEXT_LENGTH_MESSAGES.search(message) is not None


def error_detail(data: Any, raw: bytes) -> str:
    """The upstream's own error message (`error.message`, `error`, `message` or `detail`), shortened; never
    the raw body."""
    if isinstance(data, dict):
        error = data.get("error")
        candidates = (
            error.get("message") if isinstance(error, dict) else error,
            data.get("message"),
            data.get("detail"),
        )
        for candidate in candidates:
            if isinstance(candidate, str) and candidate:
                return shorten(candidate)
    return "no error message in the answer" if raw.strip() else "an empty answer"


def shorten(text: str) -> str:
    text = text.strip()
    return text[:ERROR_DETAIL_LIMIT] + "…" if len(text) > ERROR_DETAIL_LIMIT else text


def timeout_error(request: ModelRequest) -> UpstreamTimeout:
    return UpstreamTimeout(f"{request.provider} did not answer within {request.timeout_seconds:g} seconds")


def too_large_error(request: ModelRequest) -> UpstreamError:
    return UpstreamError(
        f"{request.provider}'s answer is larger than {request.max_answer_bytes} bytes, the limit "
        "CHATLOOM_MAX_UPSTREAM_BYTES sets"
    )


def connection_error(request: ModelRequest, error: BaseException) -> UpstreamError:
    if isinstance(error, aiohttp.ClientConnectorError):
        reason = os.strerror(error.errno) if error.errno else "connection refused"
        where = f"{error.host}:{error.port}"
        return UpstreamError(f"could not connect to {request.provider} at {where}: {reason}")
    if isinstance(error, aiohttp.ServerDisconnectedError):
        return UpstreamError(f"{request.provider} closed the connection without answering")
    return UpstreamError(f"{request.provider} request failed: the connection broke or was refused")


def unsendable_error(request: ModelRequest) -> InvalidRequest:
    """A key or header value that HTTP cannot carry (stored before such values were refused)."""
    return InvalidRequest(
        f"the request to {request.provider} could not be sent: its API key or one of its headers holds a "
        f"character an HTTP header cannot carry (a line break or another control character); correct the "
        f"org's {request.provider} credential or the assistant's model.headers"
    )


def unexpected_shape(request: ModelRequest, data: Any) -> UpstreamError:
    return UpstreamError(f"{request.provider} answered in an unexpected shape")


class HttpChatProvider:
    """The shared shape of an HTTP provider adapter: one session, a JSON call, and a streamed call that
    also copes with upstreams answering a stream request with one JSON body. Dialects fill in the hooks."""

    needs_image_bytes = False
    """Whether the provider takes images only as bytes: its image URLs are fetched and sent inline
    (`providers/attachment_fetch.py`). OpenAI-compatible providers fetch image URLs themselves."""

    def __init__(
        self, max_connections: int = 1000, trust_env: bool = False, resolver: AbstractResolver | None = None
    ) -> None:
        """`max_connections` bounds open upstream connections; `trust_env` honours HTTP(S)_PROXY variables;
        `resolver` (e.g. one that refuses some addresses) resolves every upstream host name."""
        self._http = HttpSession(max_connections, trust_env, resolver)

    def url(self, request: ModelRequest, stream: bool) -> str:
        raise NotImplementedError

    def headers(self, request: ModelRequest) -> Mapping[str, str]:
        raise NotImplementedError

    def body(self, request: ModelRequest, stream: bool) -> dict[str, Any]:
        raise NotImplementedError

    def parse_reply(self, data: Any, request: ModelRequest) -> ModelReply:
        raise NotImplementedError

    def read_stream(
        self, response: aiohttp.ClientResponse, request: ModelRequest
    ) -> AsyncGenerator[TextChunk | ModelReply, None]:
        raise NotImplementedError

    def replay_json(self, data: Any, request: ModelRequest) -> Iterator[TextChunk | ModelReply]:
        """A whole JSON answer to a stream request, as the stream it stands for."""
        reply = self.parse_reply(data, request)
        if reply.message.get("content"):
            yield TextChunk(str(reply.message["content"]))
        yield reply

    async def complete(self, request: ModelRequest) -> ModelReply:
        data = await self._http.post(
            self.url(request, False), self.body(request, False), self.headers(request), request
        )
        return self.parse_reply(data, request)

    async def stream(self, request: ModelRequest) -> AsyncIterator[TextChunk | ModelReply]:
        response = await self._http.open_stream(
            self.url(request, True), self.body(request, True), self.headers(request), request
        )
        try:
            if response.content_type == "application/json":
                for item in self.replay_json(
                    decode_json(await read_body(response, request), request), request
                ):
                    yield item
                return
            async with contextlib.aclosing(self.read_stream(response, request)) as items:
                async for item in items:
                    yield item
        finally:
            response.release()

    async def aclose(self) -> None:
        await self._http.aclose()
