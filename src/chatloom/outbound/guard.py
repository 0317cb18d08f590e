"""The URL guard for every user-supplied URL (custom-llm, tool servers, apiRequest tools, webhooks).

Link-local, cloud-metadata, multicast, unspecified and reserved addresses are always refused.
Private and loopback ranges are allowed (self-hosters run local models) unless `block_private`.
URLs are checked when given; hostnames are checked again at connect time by `GuardedResolver`, so a
name that later resolves to a refused address (DNS rebinding) is still refused.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from chatloom.domain.errors import OutboundUrlRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "169.254.170.2")
)


class OutboundPolicy:
    def __init__(self, block_private: bool = False) -> None:
        self.block_private = block_private

    def refusal(self, address: IPAddress) -> str | None:
        """Why `address` may not be contacted, or None when it may."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if address in METADATA_ADDRESSES:
            return "a cloud metadata address"
        if address.is_link_local:
            return "a link-local address"
        if address.is_multicast or address.is_unspecified:
            return "not a unicast address"
        if address.is_reserved and not address.is_loopback:
            # `is_reserved` also covers IPv6 loopback (::1 lies in ::/8), which is as local as 127.0.0.1.
            return "not a unicast address"
        if self.block_private and (address.is_private or address.is_loopback):
            return "a private address (CHATLOOM_BLOCK_PRIVATE_URLS is on)"
        return None

    def check_url(self, url: str, field: str) -> None:
        """Refuses a malformed URL, a non-http(s) scheme, or a literal address that may not be contacted."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise OutboundUrlRefused(f"{field}: must be an http(s) URL", field=field)
        try:
            address = ipaddress.ip_address(parts.hostname)
        except ValueError:
            if parts.hostname.rstrip(".").lower() in ("metadata.google.internal", "metadata"):
                raise OutboundUrlRefused(f"{field}: refers to a cloud metadata host", field=field) from None
            return
        reason = self.refusal(address)
        if reason is not None:
            raise OutboundUrlRefused(f"{field}: {parts.hostname} is {reason}", field=field)


class GuardedResolver(AbstractResolver):
    """Resolves like aiohttp's default resolver, then drops addresses the policy refuses."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self.policy = policy
        self._resolver = DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> Any:
        results: list[ResolveResult] = await self._resolver.resolve(host, port, family)
        allowed = [r for r in results if self.policy.refusal(ipaddress.ip_address(r["host"])) is None]
        if not allowed:
            raise OSError(f"{host} resolves only to addresses this server may not contact")
        return allowed

    async def close(self) -> None:
        await self._resolver.close()
