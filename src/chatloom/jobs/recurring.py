"""Recurring jobs: a job queued once per period under a key naming the period, so that of all the processes
queueing it exactly one row exists per period and exactly one process runs it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from chatloom.domain.ids import iso

MIN_EVERY_SECONDS = 1.0
MAX_EVERY_SECONDS = 366 * 86_400.0


@dataclass(frozen=True, slots=True)
class Recurring:
    """Run the job `kind` once every `every_seconds` (periods aligned to the epoch, so every process agrees
    on where a period starts)."""

    kind: str
    every_seconds: float

    def __post_init__(self) -> None:
        if not MIN_EVERY_SECONDS <= self.every_seconds <= MAX_EVERY_SECONDS:
            raise ValueError(
                f"a recurring job runs every {MIN_EVERY_SECONDS:g} to {MAX_EVERY_SECONDS:g} seconds"
            )

    def period_start(self, now: datetime) -> datetime:
        """The start of the period `now` falls in."""
        start = math.floor(now.timestamp() / self.every_seconds) * self.every_seconds
        return datetime.fromtimestamp(start, UTC)

    def key(self, period_start: datetime) -> str:
        """The job's key for the period starting at `period_start`: `kind:<ISO instant>`."""
        return f"{self.kind}:{iso(period_start)}"
