"""Usage limits per API key and per org: requests and tokens per minute, USD per UTC day and month.

`admit` runs before a turn calls its model: it counts the request against requests-per-minute and refuses
(`RateLimited`, with the seconds until the window ends) when a tokens or USD window is already spent.
`charge` adds a completed turn's real tokens and cost afterwards. So a budget overshoots by at most the
turns already admitted when it ran out, in every process that shares the counter (Redis when configured,
else the database's counter table, SQLite's too, so budgets survive restarts). Subjects without limits
cost one cached lookup and never touch the counter, `status` included: it reads only the windows that a
limit counts.
"""

from __future__ import annotations

import calendar
import logging
import math
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from chatloom.domain.errors import RateLimited
from chatloom.domain.ids import utc_now
from chatloom.domain.usage import ModelCall
from chatloom.engine.access.rate_limits import Counter
from chatloom.store import usage_limits
from chatloom.store.db import Database
from chatloom.store.usage_limits import NO_LIMITS, UsageLimits

log = logging.getLogger("chatloom.limits")
MICRO = 1_000_000
"""USD are counted in micro-dollars (the counter holds integers; limits are compared in them too, so
`10 x cost` allows exactly ten turns of that cost, whatever the float rounding)."""


def month_end(now: float) -> int:
    moment = datetime.fromtimestamp(now, UTC)
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return calendar.timegm((year, month, 1, 0, 0, 0))


class UsageGate:
    def __init__(
        self,
        db: Database,
        counter: Counter,
        clock: Callable[[], float] = time.time,
        cache_seconds: float = 2.0,
    ) -> None:
        self.db = db
        self.counter = counter
        self.clock = clock
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, UsageLimits]] = {}

    async def limits(self, org_id: str, key_id: str | None) -> list[tuple[str, str, UsageLimits]]:
        """(subject, what the messages call it, limits) for the key and the org that have limits."""
        subjects = [f"key:{key_id}", f"org:{org_id}"] if key_id else [f"org:{org_id}"]
        now = time.monotonic()
        if len(self._cache) > 10_000:  # bounded under a flood of keys
            self._cache.clear()
        current: dict[str, UsageLimits] = {}
        missing = []
        for subject in subjects:
            cached = self._cache.get(subject)
            if cached is not None and cached[0] >= now:
                current[subject] = cached[1]
            else:
                missing.append(subject)
        if missing:
            async with self.db.read() as conn:
                found = await usage_limits.read(conn, missing)
            for subject in missing:
                current[subject] = found.get(subject, NO_LIMITS)
                self._cache[subject] = (now + self.cache_seconds, current[subject])
        named = []
        for subject in subjects:
            limits = current[subject]
            if limits != NO_LIMITS:
                named.append((subject, "this API key" if subject.startswith("key:") else "this org", limits))
        return named

    def _windows(self, now: float) -> dict[str, int]:
        return {
            "minute": (int(now) // 60 + 1) * 60,
            "day": (int(now) // 86400 + 1) * 86400,
            "month": month_end(now),
        }

    async def admit(self, org_id: str, key_id: str | None) -> None:
        """Counts one request; raises RateLimited naming the limit when one is reached."""
        subjects = await self.limits(org_id, key_id)
        if not subjects:
            return
        now = self.clock()
        windows = self._windows(now)

        def refuse(message: str, window: str) -> RateLimited:
            retry_after = max(1, math.ceil(windows[window] - now))
            return RateLimited(
                f"{message}; try again in {retry_after} seconds", retry_after_seconds=retry_after
            )

        for subject, name, limits in subjects:
            if limits.usd_per_day is not None:
                spent = await self.counter.add(f"usd-day:{subject}", windows["day"], 0)
                if spent >= round(limits.usd_per_day * MICRO):
                    raise refuse(f"The daily budget of {name} (USD {limits.usd_per_day:g}) is spent", "day")
            if limits.usd_per_month is not None:
                spent = await self.counter.add(f"usd-month:{subject}", windows["month"], 0)
                if spent >= round(limits.usd_per_month * MICRO):
                    raise refuse(
                        f"The monthly budget of {name} (USD {limits.usd_per_month:g}) is spent", "month"
                    )
            if limits.tokens_per_minute is not None:
                used = await self.counter.add(f"tpm:{subject}", windows["minute"], 0)
                if used >= limits.tokens_per_minute:
                    raise refuse(
                        f"Too many tokens for {name}: at most {limits.tokens_per_minute} per minute", "minute"
                    )
            if limits.requests_per_minute is not None:
                hits = await self.counter.add(f"rpm:{subject}", windows["minute"], 1)
                if hits > limits.requests_per_minute:
                    raise refuse(
                        f"Too many requests for {name}: at most {limits.requests_per_minute} per minute",
                        "minute",
                    )

    async def charge(self, org_id: str, key_id: str | None, calls: Iterable[ModelCall]) -> None:
        """Adds a turn's tokens and cost to the windows of the limits that count them (never raises)."""
        try:
            subjects = await self.limits(org_id, key_id)
            if not subjects:
                return
            calls = list(calls)
            tokens = sum(call.usage.prompt_tokens + call.usage.completion_tokens for call in calls)
            cost = round(sum(call.cost for call in calls) * MICRO)
            windows = self._windows(self.clock())
            for subject, _, limits in subjects:
                if limits.tokens_per_minute is not None and tokens:
                    await self.counter.add(f"tpm:{subject}", windows["minute"], tokens)
                if limits.usd_per_day is not None and cost:
                    await self.counter.add(f"usd-day:{subject}", windows["day"], cost)
                if limits.usd_per_month is not None and cost:
                    await self.counter.add(f"usd-month:{subject}", windows["month"], cost)
        except Exception:
            log.exception("could not charge a turn to the usage limits of org %s", org_id)

    async def status(self, org_id: str, key_id: str) -> dict[str, Any]:
        """`GET /limits`: the limits of the caller's key and org, and what their current windows used."""
        async with self.db.read() as conn:
            found = await usage_limits.read(conn, [f"key:{key_id}", f"org:{org_id}"])
        windows = self._windows(self.clock())
        document: dict[str, Any] = {}

        async def used_in(bucket: str, window: str, limit: float | None) -> int:
            return 0 if limit is None else await self.counter.add(bucket, windows[window], 0)

        for kind, subject_id in (("key", key_id), ("org", org_id)):
            subject = f"{kind}:{subject_id}"
            limits = found.get(subject, NO_LIMITS)
            used = {
                "requestsThisMinute": await used_in(f"rpm:{subject}", "minute", limits.requests_per_minute),
                "tokensThisMinute": await used_in(f"tpm:{subject}", "minute", limits.tokens_per_minute),
                "usdToday": await used_in(f"usd-day:{subject}", "day", limits.usd_per_day) / MICRO,
                "usdThisMonth": await used_in(f"usd-month:{subject}", "month", limits.usd_per_month) / MICRO,
            }
            document[kind] = {"id": subject_id, "limits": limits.public(), "usage": used}
        document["resets"] = {
            "minute": datetime.fromtimestamp(windows["minute"], UTC).isoformat().replace("+00:00", "Z"),
            "day": datetime.fromtimestamp(windows["day"], UTC).isoformat().replace("+00:00", "Z"),
            "month": datetime.fromtimestamp(windows["month"], UTC).isoformat().replace("+00:00", "Z"),
        }
        return document

    async def set_limits(
        self, key_or_prefix: str | None, org_name: str | None, changes: dict[str, Any]
    ) -> UsageLimits | None:
        """Sets limits of a key (id or display prefix) or an org (name); None when there is no such one."""
        async with self.db.write() as conn:
            if key_or_prefix is not None:
                target = await usage_limits.subject_of_key(conn, key_or_prefix)
            else:
                target = await usage_limits.subject_of_org(conn, str(org_name))
            if target is None:
                return None
            return await usage_limits.write(conn, target[0], target[1], changes, utc_now())
