"""Runs blocking set-up code (which may call `asyncio.run`) in a fresh thread, so it also works while the
test's own thread runs an event loop, as Playwright's sync API does during browser tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def off_loop(function: Callable[[], T]) -> T:
    """Runs `function` in a fresh thread: it may call `asyncio.run` even when this thread already runs an
    event loop (as Playwright's sync API does during browser tests)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function).result()


def run_coroutine(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return off_loop(lambda: asyncio.run(make()))
