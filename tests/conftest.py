"""Fixtures: every API test runs against the real server on SQLite and on PostgreSQL.

The LLM is `chatloom.testing.fake_llm`, a real HTTP server on loopback. Each test gets its own org
(a fresh API key), so tests never see each other's records.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chatloom.config import Settings
from chatloom.testing.fake_llm import FakeLLM
from tests.support.browser import BROWSER_SKIPS, launch_args, skip_browser
from tests.support.client import Api
from tests.support.databases import postgresql_url, sqlite_url
from tests.support.redis_server import REDIS_SKIPS
from tests.support.server import ServerThread
from tests.support.widget import WIDGET_SKIPS

SKIPPED: list[str] = []
TEST_SECRET_KEY = "q5QkTqk7hCMFUjeGTCpzvYrTS2E7B6i6_0y2gMzJ1Nc="
"""The Fernet key that encrypts stored credentials in the test server. Also exported: `chatloom serve`
processes of end-to-end tests share the test databases, so they need it to start."""
os.environ["CHATLOOM_SECRET_KEY"] = TEST_SECRET_KEY
BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def fake_llm() -> Iterator[FakeLLM]:
    with FakeLLM().start() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _reset_fake_llm(request: pytest.FixtureRequest) -> None:
    if "fake_llm" in request.fixturenames:
        request.getfixturevalue("fake_llm").reset()


def provider_environment(fake: FakeLLM) -> dict[str, str]:
    return {
        "OPENAI_API_KEY": "sk-test-openai",
        "OPENAI_BASE_URL": fake.base_url,
        "GROQ_API_KEY": "gsk-test-groq",
        "GROQ_BASE_URL": fake.base_url,
        "ANTHROPIC_API_KEY": "sk-ant-test",
        "ANTHROPIC_BASE_URL": fake.root_url,
        "GOOGLE_API_KEY": "goog-test",
        "GOOGLE_GEMINI_BASE_URL": fake.root_url,
    }


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database URL for each backend; PostgreSQL is skipped (and reported) where unavailable."""
    if request.param == "sqlite":
        with sqlite_url(Path(tmp_path_factory.mktemp("sqlite"))) as url:
            yield url
        return
    try:
        context = postgresql_url()
        url = context.__enter__()
    except Exception as error:
        reason = f"PostgreSQL leg skipped: {error}"
        if reason not in SKIPPED:
            SKIPPED.append(reason)
        pytest.skip(reason)
    try:
        yield url
    finally:
        context.__exit__(None, None, None)


@pytest.fixture(scope="session")
def server(
    backend: str, fake_llm: FakeLLM, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerThread]:
    settings = Settings(
        database_url=backend,
        provider_env=provider_environment(fake_llm),
        llm_timeout_seconds=5,
        llm_retry_base_seconds=0.01,
        secret_key=TEST_SECRET_KEY,
        files_dir=str(tmp_path_factory.mktemp("files")),  # uploads: never into the working directory
    )
    thread = ServerThread(settings).start()
    yield thread
    thread.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless system Chromium driven by Playwright; the test is skipped loudly without one.

    Module-scoped: Playwright's sync API keeps an event loop running in the test thread while it is open,
    which code calling `asyncio.run` in other test modules must not meet."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_browser("the playwright package is not installed")
    arguments = launch_args()
    with sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(**arguments)
        except Exception as error:
            skip_browser(f"Chromium did not start: {error}")
        yield launched
        launched.close()


@pytest.fixture
def api(server: ServerThread) -> Iterator[Api]:
    client = Api(server.url, server.create_key(f"org-{uuid.uuid4().hex[:10]}"))
    yield client
    client.close()


@pytest.fixture
def other_api(server: ServerThread) -> Iterator[Api]:
    client = Api(server.url, server.create_key(f"other-{uuid.uuid4().hex[:10]}"))
    yield client
    client.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    advice = {
        **dict.fromkeys(SKIPPED, "Only the SQLite leg ran. Start PostgreSQL on 127.0.0.1:5432 to run both."),
        **dict.fromkeys(BROWSER_SKIPS, "No page was tested. Install Debian's chromium package to run them."),
        **dict.fromkeys(
            REDIS_SKIPS, "Limits counted in Redis were not tested. Start Redis on 127.0.0.1:6379 to run them."
        ),
        **dict.fromkeys(WIDGET_SKIPS, "Vapi's widget was not tested. npm must reach the npm registry once."),
    }
    for reason, what_to_do in advice.items():
        banner = "!" * 100
        terminalreporter.write_line(banner, red=True, bold=True)
        terminalreporter.write_line(f"!! {reason}", red=True, bold=True)
        terminalreporter.write_line(f"!! {what_to_do}", red=True, bold=True)
        terminalreporter.write_line(banner, red=True, bold=True)
