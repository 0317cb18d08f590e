"""Headless Chromium for page tests: Debian's `chromium` driven by Playwright, never a downloaded browser.

`browser_or_skip()` gives a launched browser, or skips the test loudly (and records why for the run's
summary) when no system Chromium or no Playwright is available. Screenshots go to `artifact_path()`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
ARTIFACTS = Path(os.environ.get("CHATLOOM_TEST_ARTIFACTS", "test-artifacts"))

BROWSER_SKIPS: list[str] = []
"""Why browser tests were skipped in this run (printed loudly at the end by tests/conftest.py)."""


def chromium_path() -> str | None:
    configured = os.environ.get("CHATLOOM_TEST_CHROMIUM")
    if configured:
        return configured if Path(configured).exists() else None
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    found = shutil.which("chromium")
    return found


def skip_browser(reason: str) -> None:
    message = f"browser tests skipped: {reason}"
    if message not in BROWSER_SKIPS:
        BROWSER_SKIPS.append(message)
    pytest.skip(message)


def artifact_path(name: str) -> Path:
    """Where a test saves a screenshot or other artifact (created on demand)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name


def launch_args() -> dict[str, Any]:
    """Playwright `chromium.launch` keyword arguments for the system browser."""
    executable = chromium_path()
    if executable is None:
        skip_browser("no system Chromium (install Debian's `chromium` package)")
    return {"executable_path": executable, "headless": True, "args": list(CHROMIUM_ARGS)}
