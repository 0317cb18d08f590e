"""Rate-limit counts in this process's memory: fixed windows per bucket, swept as they end, bounded in
size."""

from __future__ import annotations

import time

MEMORY_BUCKETS = 100_000
"""Past this many live buckets a memory counter sweeps at once (bounds memory under a flood of subjects)."""


class MemoryCounter:
    def __init__(self) -> None:
        self._hits: dict[tuple[str, int], int] = {}

    async def increment(self, bucket: str, window_end: int) -> int:
        key = (bucket, window_end)
        hits = self._hits[key] = self._hits.get(key, 0) + 1
        if len(self._hits) > MEMORY_BUCKETS:
            await self.sweep(int(time.time()))
        return hits

    async def add(self, bucket: str, window_end: int, amount: int) -> int:
        key = (bucket, window_end)
        total = self._hits[key] = self._hits.get(key, 0) + amount
        return total

    async def sweep(self, before: int) -> None:
        self._hits = {key: hits for key, hits in self._hits.items() if key[1] >= before}
