"""WebhookDispatcher against a real loopback server: envelope, signature (checked with the code that
docs/webhooks.md gives), retries, failures logged and never raised, and nothing blocking the caller."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from chatloom.outbound.guard import OutboundPolicy
from chatloom.outbound.http import Backoff, OutboundHttp
from chatloom.testing.http_recorder import HttpRecorder, Scripted
from chatloom.webhooks.deliver import WebhookDispatcher

T = TypeVar("T")
QUICK_PLAN = {"type": "fixed", "maxRetries": 2, "baseDelaySeconds": 0.01}
DOCS = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def documented_verify() -> Callable[[str, Any, bytes], bool]:
    """The `verify` function exactly as docs/webhooks.md prints it."""
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.DOTALL)
    [source] = [block for block in blocks if "def verify" in block]
    namespace: dict[str, Any] = {}
    exec(source, namespace)
    verify: Callable[[str, Any, bytes], bool] = namespace["verify"]
    return verify


verify = documented_verify()


@pytest.fixture(scope="module")
def recorder_server() -> Iterator[HttpRecorder]:
    with HttpRecorder().start() as recorder:
        yield recorder


@pytest.fixture
def hooks(recorder_server: HttpRecorder, caplog: pytest.LogCaptureFixture) -> HttpRecorder:
    recorder_server.reset()
    caplog.set_level(logging.INFO, logger="chatloom.webhooks")
    return recorder_server


def run(scenario: Callable[[WebhookDispatcher], Awaitable[T]], **options: Any) -> T:
    async def go() -> T:
        http = OutboundHttp(OutboundPolicy())
        dispatcher = WebhookDispatcher(http, **options)
        try:
            return await scenario(dispatcher)
        finally:
            await dispatcher.aclose()
            await http.aclose()

    return asyncio.run(go())


def deliver(*sends: tuple[dict[str, Any], dict[str, Any]], **options: Any) -> None:
    """Dispatches each (server, message) and waits for every delivery to end."""

    async def scenario(dispatcher: WebhookDispatcher) -> None:
        for server, message in sends:
            dispatcher.dispatch(server, message)
        await dispatcher.drain(5)
        assert dispatcher.in_flight == 0

    run(scenario, **options)


def logged(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "chatloom.webhooks" and r.levelno == level]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_delivered_with_envelope_headers_and_signature(
    hooks: HttpRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    message = {
        "type": "chat.created",
        "chat": {"id": "c1", "output": [{"role": "assistant", "content": "hi"}]},
    }
    server = {
        "url": f"{hooks.url}/hooks",
        "headers": {"Authorization": "Bearer abc", "X-Num": 7},
        "secret": "whsec-1",
    }
    before = int(time.time() * 1000)
    deliver((server, message))

    [call] = hooks.calls
    assert (
        call.method == "POST" and call.path == "/hooks" and call.headers["content-type"] == "application/json"
    )
    assert call.json["message"]["timestamp"] >= before
    assert call.json == {"message": {**message, "timestamp": call.json["message"]["timestamp"]}}
    assert "timestamp" not in message, "the caller's message is left as it was"
    assert call.headers["Authorization"] == "Bearer abc" and call.headers["X-Num"] == "7"
    assert verify("whsec-1", call.headers, call.body)
    assert not verify("whsec-2", call.headers, call.body) and not verify(
        "whsec-1", call.headers, call.body + b" "
    )
    stale = {**call.headers, "X-Chatloom-Timestamp": str(int(call.headers["X-Chatloom-Timestamp"]) - 3600)}
    assert not verify("whsec-1", stale, call.body), "the documented freshness check refuses old timestamps"

    assert logged(caplog, logging.INFO) == [
        f"webhook chat.created delivered to 127.0.0.1:{hooks.port}: HTTP 200 after 1 attempt(s)"
    ]
    assert "abc" not in caplog.text and "whsec" not in caplog.text and "c1" not in caplog.text


def test_signed_with_the_default_secret_and_unsigned_without(hooks: HttpRecorder) -> None:
    stamped = {"type": "session.updated", "timestamp": 123, "session": {"id": "s1"}}
    deliver(({"url": f"{hooks.url}/default"}, stamped), default_secret="server-wide")
    deliver(({"url": f"{hooks.url}/plain"}, stamped))
    [signed] = hooks.calls_to("/default")
    assert verify("server-wide", signed.headers, signed.body) and signed.json["message"]["timestamp"] == 123
    [plain] = hooks.calls_to("/plain")
    assert "X-Chatloom-Signature" not in plain.headers and "X-Chatloom-Timestamp" not in plain.headers


def test_retried_after_a_500_then_delivered(hooks: HttpRecorder, caplog: pytest.LogCaptureFixture) -> None:
    hooks.script("/flaky", Scripted(status=500), Scripted(status=204))
    server = {"url": f"{hooks.url}/flaky", "backoffPlan": QUICK_PLAN, "secret": "whsec-1"}
    deliver((server, {"type": "chat.deleted", "chat": {"id": "c1"}}))
    first, second = hooks.calls
    assert first.body == second.body and all(verify("whsec-1", c.headers, c.body) for c in (first, second))
    assert logged(caplog, logging.INFO) == [
        f"webhook chat.deleted delivered to 127.0.0.1:{hooks.port}: HTTP 204 after 2 attempt(s)"
    ]
    assert logged(caplog, logging.WARNING) == []


def test_failures_are_logged_and_never_raised(hooks: HttpRecorder, caplog: pytest.LogCaptureFixture) -> None:
    hooks.script("/broken", *[Scripted(status=500)] * 5)
    hooks.script("/gone", Scripted(status=404), Scripted(status=200))
    port = closed_port()
    deliver(
        ({"url": f"{hooks.url}/broken", "backoffPlan": QUICK_PLAN}, {"type": "chat.created"}),
        ({"url": f"{hooks.url}/gone", "backoffPlan": QUICK_PLAN}, {"type": "chat.deleted"}),
        (
            {"url": f"http://127.0.0.1:{port}/x?token=hunter2", "headers": {"X-Key": "hunter2"}},
            {"type": "session.created"},
        ),
        ({"url": "http://169.254.169.254/latest"}, {"type": "session.deleted"}),
        ({"url": "not a url"}, {"type": "session.updated"}),
        default_backoff=Backoff(max_retries=1, base_delay_seconds=0.01),
    )
    assert len(hooks.calls_to("/broken")) == 3 and len(hooks.calls_to("/gone")) == 1
    warnings = sorted(logged(caplog, logging.WARNING))
    assert warnings == [
        f"webhook chat.created to 127.0.0.1:{hooks.port} failed: HTTP 500 after 3 attempt(s)",
        f"webhook chat.deleted to 127.0.0.1:{hooks.port} failed: HTTP 404 after 1 attempt(s)",
        "webhook session.created to 127.0.0.1:"
        f"{port} failed: POST http://127.0.0.1:{port}: could not connect to 127.0.0.1:{port}: "
        "Connection refused (2 attempts)",
        "webhook session.deleted to 169.254.169.254 failed: refused URL: "
        "server.url: 169.254.169.254 is a cloud metadata address",
        "webhook session.updated to ? failed: refused URL: server.url: must be an http(s) URL",
    ]
    assert "hunter2" not in caplog.text and logged(caplog, logging.INFO) == []


def test_dispatch_never_raises_into_the_caller(hooks: HttpRecorder, caplog: pytest.LogCaptureFixture) -> None:
    dispatcher = WebhookDispatcher(OutboundHttp(OutboundPolicy()))
    dispatcher.dispatch({"url": f"{hooks.url}/x"}, {"type": "chat.created"})  # no running event loop

    async def scenario(dispatcher: WebhookDispatcher) -> None:
        dispatcher.dispatch({"url": f"{hooks.url}/x"}, {"type": "chat.created", "chat": object()})
        dispatcher.dispatch({"url": f"{hooks.url}/x", "headers": "nonsense"}, {"type": "chat.deleted"})
        await dispatcher.drain(5)

    run(scenario)
    assert [c.json["message"]["type"] for c in hooks.calls] == ["chat.deleted"]
    assert logged(caplog, logging.WARNING) == [
        "webhook chat.created not sent: RuntimeError: no running event loop",
        "webhook chat.created not sent: TypeError: Type is not JSON serializable: object",
    ]


def test_dispatch_returns_at_once_and_drain_waits(
    hooks: HttpRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    hooks.script("/slow", Scripted(delay_seconds=0.3))

    async def scenario(dispatcher: WebhookDispatcher) -> tuple[float, float]:
        started = time.monotonic()
        dispatcher.dispatch({"url": f"{hooks.url}/slow"}, {"type": "chat.created"})
        dispatched = time.monotonic() - started
        assert dispatcher.in_flight == 1 and logged(caplog, logging.INFO) == []
        await dispatcher.drain(5)
        return dispatched, time.monotonic() - started

    dispatched, drained = run(scenario)
    assert dispatched < 0.05 and drained >= 0.3
    assert len(logged(caplog, logging.INFO)) == 1 and len(hooks.calls) == 1


def test_drain_gives_up_after_its_grace_and_aclose_abandons(
    hooks: HttpRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    hooks.script("/stuck", Scripted(delay_seconds=5))

    async def scenario(dispatcher: WebhookDispatcher) -> float:
        dispatcher.dispatch({"url": f"{hooks.url}/stuck"}, {"type": "chat.created"})
        started = time.monotonic()
        await dispatcher.drain(0.1)
        assert dispatcher.in_flight == 1
        await dispatcher.aclose()
        assert dispatcher.in_flight == 0
        return time.monotonic() - started

    assert run(scenario) < 1.0
    assert logged(caplog, logging.WARNING) == [
        f"webhook chat.created to 127.0.0.1:{hooks.port} abandoned: shutting down"
    ]


def test_no_url_sends_nothing(hooks: HttpRecorder) -> None:
    async def scenario(dispatcher: WebhookDispatcher) -> int:
        for server in ({}, {"url": ""}, {"url": None, "headers": {"A": "b"}}):
            dispatcher.dispatch(server, {"type": "chat.created"})
        in_flight = dispatcher.in_flight
        await dispatcher.drain(1)
        return in_flight

    assert run(scenario) == 0
    time.sleep(0.05)
    assert hooks.calls == []
