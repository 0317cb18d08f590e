"""Identifiers and timestamps: time-ordered UUIDv7 ids (as Vapi's) and UTC times with milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime

import uuid_utils


def new_id() -> str:
    return str(uuid_utils.uuid7())


def utc_now() -> datetime:
    """Now in UTC, truncated to milliseconds so stored, filtered and displayed values agree."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond - now.microsecond % 1000)


def iso(moment: datetime) -> str:
    """ISO-8601 with milliseconds and a `Z`, the format Vapi returns."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
