"""The console fixture shared by the console's browser tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.console_page import ConsolePage, open_console
from tests.support.server import ServerThread


@pytest.fixture
def console(browser: Any, server: ServerThread) -> Iterator[ConsolePage]:
    """A console page in its own context; afterwards, no request may have left loopback and the page
    may have logged no error."""
    context, page = open_console(browser, server.url)
    try:
        yield page
        assert page.blocked == [], f"requests left loopback: {page.blocked}"
        assert page.console_errors == [], page.console_errors
    finally:
        context.close()
