"""The outbound URL guard: metadata and link-local always refused, private ranges by setting."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from chatloom.domain.errors import OutboundUrlRefused
from chatloom.outbound.guard import GuardedResolver, OutboundPolicy


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data",
        "http://[fd00:ec2::254]/",
        "http://169.254.1.1:8080/v1",
        "http://[fe80::1]/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://metadata.google.internal/computeMetadata/v1",
        "http://[::ffff:169.254.169.254]/",
        "ftp://example.com/",
        "not a url",
    ],
)
def test_always_refused(url: str) -> None:
    with pytest.raises(OutboundUrlRefused) as refused:
        OutboundPolicy().check_url(url, "model.url")
    assert refused.value.field == "model.url" and "model.url" in str(refused.value.message)


def test_private_ranges_are_allowed_unless_blocked() -> None:
    for url in (
        "http://127.0.0.1:11434/v1",
        "http://10.0.0.5/v1",
        "http://192.168.1.2/",
        "https://api.openai.com",
    ):
        OutboundPolicy().check_url(url, "model.url")
    for url in ("http://127.0.0.1:11434/v1", "http://10.0.0.5/v1", "http://[::1]/"):
        with pytest.raises(OutboundUrlRefused):
            OutboundPolicy(block_private=True).check_url(url, "model.url")
    assert OutboundPolicy(block_private=True).refusal(ipaddress.ip_address("8.8.8.8")) is None


def test_resolver_refuses_names_that_resolve_to_refused_addresses() -> None:
    async def resolve(policy: OutboundPolicy) -> list[str]:
        resolver = GuardedResolver(policy)
        try:
            return [r["host"] for r in await resolver.resolve("localhost", 80)]
        finally:
            await resolver.close()

    assert "127.0.0.1" in asyncio.run(resolve(OutboundPolicy()))
    with pytest.raises(OSError, match="may not contact"):
        asyncio.run(resolve(OutboundPolicy(block_private=True)))
