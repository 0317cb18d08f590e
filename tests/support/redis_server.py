"""The Redis that tests count usage and rate limits in, or a loud skip when none answers.

`CHATLOOM_TEST_REDIS_URL` names it (default: database 13 of 127.0.0.1:6379, apart from the stream relay
tests' 0). Tests only ever remove keys of the keys and orgs they created (`forget_counts`).
"""

from __future__ import annotations

import os

import pytest
import redis

REDIS_URL = os.environ.get("CHATLOOM_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")

REDIS_SKIPS: list[str] = []
"""Why Redis tests were skipped in this run (printed loudly at the end by tests/conftest.py)."""


def redis_url_or_skip() -> str:
    try:
        with redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1) as client:
            client.ping()
    except redis.RedisError as error:
        reason = f"Redis leg skipped: {REDIS_URL} does not answer ({error})"
        if reason not in REDIS_SKIPS:
            REDIS_SKIPS.append(reason)
        pytest.skip(reason)
    return REDIS_URL


def forget_counts(redis_url: str, subject_ids: list[str]) -> None:
    """Removes the rate-limit counts of these keys and orgs (they expire anyway, months later at most)."""
    with redis.Redis.from_url(redis_url) as client:
        for subject_id in subject_ids:
            found = list(client.scan_iter(match=f"chatloom:rate:*{subject_id}*", count=1000))
            if found:
                client.delete(*found)
