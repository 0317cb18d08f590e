"""A server message to a Vapi `server` (webhooks, tool servers, knowledge bases, hand-off servers): its
body and its headers, the same for every kind.

The body is `{"message": ...}` without any secret, at any depth (`domain.secrets.without_secrets`): the
signing secret of another server, a credential's key, a custom LLM's headers never leave for a server
they were not meant for. The headers are the server's own `headers`, then `content-type` and the
`x-request-id` of the request that caused the message, so the receiver can match it to our access log.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from chatloom.domain.secrets import without_secrets
from chatloom.observability.request_ids import current_request_id
from chatloom.outbound.http import Backoff, OutboundHttp, OutboundResponse, Signer
from chatloom.outbound.signing import signer_for

DEFAULT_TIMEOUT_SECONDS = 20.0
"""Vapi's default `server.timeoutSeconds`."""


def message_body(message: Mapping[str, Any]) -> bytes:
    """The request body of a server message: `{"message": ...}`, every secret removed."""
    return orjson.dumps({"message": without_secrets(dict(message))})


def header_values(headers: Any) -> dict[str, str]:
    """A server's `headers` as strings; entries without a value are left out."""
    if not isinstance(headers, Mapping):
        return {}
    return {
        str(name): value if isinstance(value, str) else str(value)
        for name, value in headers.items()
        if value is not None
    }


def server_headers(server: Mapping[str, Any], auth: Mapping[str, str] | None = None) -> dict[str, str]:
    """The headers of a message to `server`: `auth` (its credential's), then its own `headers` (which
    win), then `content-type` and `x-request-id` unless it set them."""
    headers = {**(auth or {}), **header_values(server.get("headers"))}
    names = {name.lower() for name in headers}
    if "content-type" not in names:
        headers["content-type"] = "application/json"
    request_id = current_request_id.get()
    if request_id and "x-request-id" not in names:
        headers["x-request-id"] = request_id
    return headers


def server_timeout(server: Mapping[str, Any]) -> float:
    """`server.timeoutSeconds` within Vapi's 1 to 300 (inline tools are not validated), else 20."""
    value = server.get("timeoutSeconds")
    if isinstance(value, bool) or not isinstance(value, int | float) or not 1 <= value <= 300:
        return DEFAULT_TIMEOUT_SECONDS
    return float(value)


def server_signer(server: Mapping[str, Any], default_secret: str | None) -> Signer | None:
    return signer_for(server.get("secret"), default_secret)


async def post_message(
    http: OutboundHttp,
    server: Mapping[str, Any],
    message: Mapping[str, Any],
    default_secret: str | None,
    auth: Mapping[str, str] | None = None,
) -> OutboundResponse:
    """POSTs a server message to `server.url` and returns the answer (any status), with the server's
    timeout, backoff plan and signature. Raises what `OutboundHttp.request` raises."""
    return await http.request(
        "POST",
        str(server.get("url", "")),
        content=message_body(message),
        headers=server_headers(server, auth),
        timeout_seconds=server_timeout(server),
        backoff=Backoff.from_plan(server.get("backoffPlan"), Backoff()),
        field="server.url",
        sign=server_signer(server, default_secret),
    )
