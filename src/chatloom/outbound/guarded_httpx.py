"""The URL guard for httpx2 clients (the HTTP client the `mcp` SDK uses): host names are resolved and
every address checked by the `OutboundPolicy` at connect time, and the connection goes to a checked
address, so a name that resolves to a refused address (DNS rebinding included) is never contacted.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Mapping
from typing import Any

import httpcore2
import httpx2

from chatloom.outbound.guard import OutboundPolicy
from chatloom.outbound.http import RESOLVER_REFUSAL


class GuardedNetworkBackend(httpcore2.AsyncNetworkBackend):
    """Resolves the host itself and connects only to addresses the policy allows; TLS still verifies
    (and sends SNI for) the host name, which httpcore passes separately."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self.policy = policy
        self._backend = httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        addresses = await self._allowed_addresses(host, port)
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._backend.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as error:
                failure = error
        assert failure is not None
        raise failure

    async def _allowed_addresses(self, host: str, port: int) -> list[str]:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as error:
            raise httpcore2.ConnectError(f"{host} could not be resolved") from error
        allowed: list[str] = []
        for *_rest, sockaddr in infos:
            address = str(sockaddr[0])
            if address not in allowed and self.policy.refusal(ipaddress.ip_address(address)) is None:
                allowed.append(address)
        if not allowed:
            raise httpcore2.ConnectError(f"{host} resolves only to addresses this server {RESOLVER_REFUSAL}")
        return allowed

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        raise httpcore2.ConnectError("unix sockets are not reachable through the outbound guard")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class GuardedTransport(httpx2.AsyncHTTPTransport):
    """httpx2's transport with its connection pool on a `GuardedNetworkBackend`; no proxies from the
    environment (they would bypass the guard)."""

    def __init__(self, policy: OutboundPolicy) -> None:
        super().__init__(trust_env=False)
        # The pool is rebuilt with the guarded backend: httpx2 offers no parameter for it.
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=httpx2.create_ssl_context(trust_env=False),
            network_backend=GuardedNetworkBackend(policy),
        )


def guarded_client(
    policy: OutboundPolicy,
    headers: Mapping[str, str] | None = None,
    timeout: httpx2.Timeout | None = None,
    auth: httpx2.Auth | None = None,
) -> httpx2.AsyncClient:
    """An httpx2 client whose every connection passes the policy (the `McpHttpClientFactory` shape)."""
    return httpx2.AsyncClient(
        headers=dict(headers or {}),
        timeout=timeout or httpx2.Timeout(30.0),
        auth=auth,
        transport=GuardedTransport(policy),
        trust_env=False,
        follow_redirects=False,
    )
