"""HMAC-SHA256 signatures on requests to customers' servers (server messages and tool calls).

`X-Chatloom-Timestamp: <unix seconds>` and `X-Chatloom-Signature: sha256=<hex HMAC(secret,
"<timestamp>." + raw body)>`; docs/webhooks.md shows how to verify them.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from chatloom.outbound.http import Signer

TIMESTAMP_HEADER = "X-Chatloom-Timestamp"
SIGNATURE_HEADER = "X-Chatloom-Signature"


def signature(secret: str, timestamp: str, raw_body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256(secret, "<timestamp>." + raw_body)>`."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + raw_body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signer(secret: str) -> Signer:
    """Signs each attempt with its own timestamp, so a retry minutes later is still fresh."""

    def sign(raw_body: bytes) -> dict[str, str]:
        timestamp = str(int(time.time()))
        return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature(secret, timestamp, raw_body)}

    return sign


def signer_for(server_secret: object, default_secret: str | None) -> Signer | None:
    """The signer for a server: its own `secret`, else the server-wide default, else none."""
    secret = server_secret if isinstance(server_secret, str) and server_secret else default_secret
    return signer(secret) if secret else None
