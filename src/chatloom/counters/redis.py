"""Rate-limit counts in Redis (`CHATLOOM_REDIS_URL`), shared by every process pointed at the same Redis.

One key per bucket and window (`chatloom:rate:<bucket>:<window end>`), expiring a little after its window
ends, so nothing needs sweeping. Each count is one round trip: a MULTI of INCRBY and EXPIREAT, or a GET to
read. When Redis cannot be reached a count raises `LimitsUnavailable` (HTTP 503): a limited subject is
refused rather than let through uncounted. Subjects without limits never reach the counter, so they are
served as usual. Charges that fail meanwhile are logged and lost.
"""

from __future__ import annotations

import hashlib
import logging

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from chatloom.domain.errors import LimitsUnavailable

log = logging.getLogger("chatloom.limits")

KEY_PREFIX = "chatloom:rate:"
EXPIRY_GRACE_SECONDS = 60
"""A window's key outlives its end by this much, for servers whose clocks run a little behind."""
MAX_BUCKET_CHARS = 200
"""Longer buckets are shortened to their start and a hash of the whole, which keeps them apart."""
MAX_CONNECTIONS = 32
"""Connections to Redis per process. A burst of counts shares them (each takes Redis microseconds) instead
of opening one connection per request at once, whose connects then time out on a busy event loop."""
POOL_WAIT_SECONDS = 5.0
"""Longest a count waits for one of those connections."""
CONNECT_TIMEOUT_SECONDS = 2.0
TIMEOUT_SECONDS = 5.0
"""Longest a count waits for Redis' answer: measured on the event loop, which a burst keeps busy, so it is
not Redis' own latency. A Redis that is down refuses connections at once and is not waited for."""


def redis_key(bucket: str, window_end: int) -> str:
    if len(bucket) > MAX_BUCKET_CHARS:
        bucket = f"{bucket[:100]}#{hashlib.sha256(bucket.encode()).hexdigest()}"
    return f"{KEY_PREFIX}{bucket}:{window_end}"


class RedisCounter:
    def __init__(self, redis_url: str) -> None:
        # One retry (a pooled connection Redis dropped), then a refusal: a request never waits long.
        pool = BlockingConnectionPool.from_url(
            redis_url,
            max_connections=MAX_CONNECTIONS,
            timeout=POOL_WAIT_SECONDS,
            socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
            socket_timeout=TIMEOUT_SECONDS,
            retry=Retry(NoBackoff(), 1),
        )
        self.redis: Redis = Redis(connection_pool=pool)

    async def increment(self, bucket: str, window_end: int) -> int:
        return await self.add(bucket, window_end, 1)

    async def add(self, bucket: str, window_end: int, amount: int) -> int:
        key = redis_key(bucket, window_end)
        try:
            if amount == 0:
                return int(await self.redis.get(key) or 0)
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.incrby(key, amount)
                pipe.expireat(key, window_end + EXPIRY_GRACE_SECONDS)
                total, _ = await pipe.execute()
            return int(total)
        except (RedisError, OSError) as error:
            log.warning("usage limits are unavailable: Redis did not answer (%s)", error)
            raise LimitsUnavailable(
                "Usage limits are unavailable: their counter cannot be reached, so requests subject to "
                "a limit are refused for now; try again shortly"
            ) from error

    async def sweep(self, before: int) -> None:
        """Nothing to do: keys expire with their windows."""

    async def aclose(self) -> None:
        await self.redis.aclose(close_connection_pool=True)
