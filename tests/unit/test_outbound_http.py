"""OutboundHttp against a real loopback server: bodies, redirects re-checked by the guard, retries,
failures."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from chatloom.domain.errors import OutboundUrlRefused
from chatloom.outbound.guard import OutboundPolicy
from chatloom.outbound.http import Backoff, OutboundFailure, OutboundHttp, OutboundResponse
from chatloom.testing.http_recorder import HttpRecorder, RecordedCall, Scripted

QUICK = Backoff(max_retries=2, base_delay_seconds=0.01)


@pytest.fixture(scope="module")
def recorder_server() -> Iterator[HttpRecorder]:
    with HttpRecorder().start() as recorder:
        yield recorder


@pytest.fixture
def recorder(recorder_server: HttpRecorder) -> HttpRecorder:
    recorder_server.reset()
    return recorder_server


def send(
    method: str,
    url: str,
    *,
    policy: OutboundPolicy | None = None,
    client: dict[str, Any] | None = None,
    **kw: Any,
) -> OutboundResponse:
    async def go() -> OutboundResponse:
        http = OutboundHttp(policy or OutboundPolicy(), **(client or {}))
        try:
            return await http.request(method, url, **kw)
        finally:
            await http.aclose()

    return asyncio.run(go())


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_json_request_and_response(recorder: HttpRecorder) -> None:
    recorder.script("/items", Scripted(status=201, json={"id": 7}, headers={"X-Reply": "yes"}))
    response = send(
        "post",
        f"{recorder.url}/items",
        json={"name": "lamp", "tags": ["a"]},
        headers={"Authorization": "Bearer t0k", "X-Count": 3},
    )
    assert response.status == 201 and orjson.loads(response.body) == {"id": 7}
    assert response.headers["x-reply"] == "yes" and response.attempts == 1
    [call] = recorder.calls
    assert call.method == "POST" and call.path == "/items" and call.json == {"name": "lamp", "tags": ["a"]}
    assert (
        call.headers["Content-Type"] == "application/json" and call.headers["authorization"] == "Bearer t0k"
    )
    assert call.headers["X-Count"] == "3"


def test_query_params_and_raw_content(recorder: HttpRecorder) -> None:
    send("GET", f"{recorder.url}/search?page=2", params={"q": "a b&c", "n": "1"})
    send("PUT", f"{recorder.url}/raw", content=b"plain", headers={"content-type": "text/plain"})
    search, raw = recorder.calls
    assert (
        search.method == "GET"
        and search.query == {"page": "2", "q": "a b&c", "n": "1"}
        and search.body == b""
    )
    assert raw.body == b"plain" and raw.json is None and raw.headers["content-type"] == "text/plain"


def test_an_answer_over_the_limit_is_a_failure_naming_the_limit(recorder: HttpRecorder) -> None:
    recorder.script("/big", Scripted(body=b"x" * 100_000), Scripted(body=b"y" * 10))
    with pytest.raises(OutboundFailure, match=r"larger than 10 bytes.*CHATLOOM_MAX_UPSTREAM_BYTES"):
        send("GET", f"{recorder.url}/big", client={"max_response_bytes": 10})
    exact = send("GET", f"{recorder.url}/big", client={"max_response_bytes": 10})
    assert exact.body == b"y" * 10


def test_redirects_are_followed(recorder: HttpRecorder) -> None:
    recorder.script("/old", Scripted(status=302, headers={"Location": "/new?x=1"}))
    recorder.script("/keep", Scripted(status=307, headers={"Location": f"{recorder.url}/kept"}))
    recorder.script("/new", Scripted(json={"here": True}))
    moved = send("POST", f"{recorder.url}/old", json={"a": 1}, params={"p": "1"}, headers={"X-Key": "k"})
    assert moved.status == 200 and orjson.loads(moved.body) == {"here": True}
    old, new = recorder.calls
    assert old.method == "POST" and new.method == "GET" and new.body == b"" and new.query == {"x": "1"}
    assert "content-type" not in new.headers and new.headers["X-Key"] == "k", "same host: headers kept"

    recorder.reset()
    recorder.script("/keep", Scripted(status=307, headers={"Location": f"{recorder.url}/kept"}))
    send("POST", f"{recorder.url}/keep", json={"a": 1})
    assert [(c.method, c.path, c.json) for c in recorder.calls] == [
        ("POST", "/keep", {"a": 1}),
        ("POST", "/kept", {"a": 1}),
    ]


def test_headers_do_not_follow_a_redirect_to_another_host(recorder: HttpRecorder) -> None:
    other = f"http://localhost:{recorder.port}/elsewhere"
    recorder.script("/start", Scripted(status=308, headers={"Location": other}))
    send("POST", f"{recorder.url}/start", json={"a": 1}, headers={"Authorization": "Bearer secret"})
    start, elsewhere = recorder.calls
    assert start.headers["Authorization"] == "Bearer secret"
    assert "Authorization" not in elsewhere.headers and elsewhere.json == {"a": 1}


def test_redirect_targets_pass_the_guard(recorder: HttpRecorder) -> None:
    recorder.script(
        "/meta", Scripted(status=302, headers={"Location": "http://169.254.169.254/latest/meta-data"})
    )
    with pytest.raises(OutboundUrlRefused) as refused:
        send("GET", f"{recorder.url}/meta", field="server.url", backoff=QUICK)
    assert refused.value.field == "server.url" and "metadata" in str(refused.value)
    assert len(recorder.calls) == 1, "a refused redirect is not retried"

    recorder.on("/loop", lambda call: Scripted(status=301, headers={"Location": "/loop"}))
    with pytest.raises(OutboundFailure, match=r"too many redirects \(more than 3\)"):
        send("GET", f"{recorder.url}/loop", client={"max_redirects": 3}, backoff=QUICK)
    assert len(recorder.calls_to("/loop")) == 4


def test_a_refused_url_is_never_contacted(recorder: HttpRecorder) -> None:
    with pytest.raises(OutboundUrlRefused, match="link-local"):
        send("GET", "http://169.254.1.1/x", field="url")
    with pytest.raises(OutboundUrlRefused):
        send("GET", f"{recorder.url}/x", policy=OutboundPolicy(block_private=True))
    # A name is checked when connecting: `localhost` resolves only to loopback, which is refused here.
    with pytest.raises(OutboundFailure, match="may not contact") as failure:
        send(
            "GET",
            f"http://localhost:{recorder.port}/x",
            policy=OutboundPolicy(block_private=True),
            backoff=QUICK,
        )
    assert failure.value.attempts == 1, "a refused address is not retried"
    assert recorder.calls == []


def test_429_and_5xx_are_retried_per_backoff(recorder: HttpRecorder) -> None:
    recorder.script("/flaky", Scripted(status=500), Scripted(status=429), Scripted(json={"ok": 1}))
    response = send("POST", f"{recorder.url}/flaky", json={"n": 1}, backoff=QUICK)
    assert response.status == 200 and response.attempts == 3
    assert [c.json for c in recorder.calls] == [{"n": 1}] * 3

    recorder.script("/down", *[Scripted(status=503)] * 3)
    down = send("GET", f"{recorder.url}/down", backoff=Backoff(max_retries=1, base_delay_seconds=0.01))
    assert down.status == 503 and down.attempts == 2, "the last answer is returned after the retries"

    recorder.script("/once", Scripted(status=500))
    assert send("GET", f"{recorder.url}/once").status == 500, "no backoff: no retry"
    assert len(recorder.calls_to("/once")) == 1


def test_not_retried_statuses(recorder: HttpRecorder) -> None:
    excluded = Backoff(max_retries=3, base_delay_seconds=0.01, excluded_status_codes=frozenset({503}))
    recorder.script("/excluded", Scripted(status=503), Scripted(status=200))
    assert send("GET", f"{recorder.url}/excluded", backoff=excluded).status == 503
    recorder.script("/missing", Scripted(status=404), Scripted(status=200))
    assert send("GET", f"{recorder.url}/missing", backoff=QUICK).status == 404
    assert len(recorder.calls) == 2


def test_a_larger_retry_after_wins(recorder: HttpRecorder) -> None:
    recorder.script("/slow-down", Scripted(status=429, headers={"Retry-After": "0.3"}))
    started = time.monotonic()
    response = send("GET", f"{recorder.url}/slow-down", backoff=QUICK)
    assert response.status == 200 and time.monotonic() - started >= 0.3


def test_timeouts_fail_after_the_retries(recorder: HttpRecorder) -> None:
    recorder.script("/stuck", *[Scripted(delay_seconds=2.0)] * 3)
    started = time.monotonic()
    with pytest.raises(OutboundFailure) as failure:
        send(
            "GET",
            f"{recorder.url}/stuck?token=hunter2",
            timeout_seconds=0.1,
            backoff=Backoff(max_retries=1, base_delay_seconds=0.01),
        )
    assert time.monotonic() - started < 1.0
    assert str(failure.value) == f"GET {recorder.url}: no answer within 0.1 s (2 attempts)"
    assert failure.value.attempts == 2 and len(recorder.wait_for(2, "/stuck")) == 2


def test_connection_refused(recorder: HttpRecorder) -> None:
    port = closed_port()
    with pytest.raises(OutboundFailure, match="Connection refused") as failure:
        send(
            "POST",
            f"http://127.0.0.1:{port}/hook?key=hunter2",
            json={"a": 1},
            headers={"Authorization": "Bearer hunter2"},
            backoff=QUICK,
        )
    assert failure.value.attempts == 3 and "hunter2" not in str(failure.value)


def test_sign_sees_the_exact_bytes_sent_on_each_attempt(recorder: HttpRecorder) -> None:
    recorder.script("/signed", Scripted(status=500))
    signed: list[bytes] = []

    def sign(body: bytes) -> dict[str, str]:
        signed.append(body)
        return {"X-Sig": str(len(signed))}

    send("POST", f"{recorder.url}/signed", json={"a": [1, 2]}, backoff=QUICK, sign=sign)
    calls: list[RecordedCall] = recorder.calls
    assert [c.headers["X-Sig"] for c in calls] == ["1", "2"]
    assert signed == [c.body for c in calls]


def test_backoff_from_a_vapi_plan() -> None:
    default = Backoff(max_retries=4, base_delay_seconds=1.0)
    assert Backoff.from_plan(None, default) is default
    plan = {
        "type": "fixed",
        "maxRetries": 2,
        "baseDelaySeconds": 0.5,
        "excludedStatusCodes": [503, "502", True],
    }
    assert Backoff.from_plan(plan, default) == Backoff(2, 0.5, "fixed", frozenset({502, 503}))
    clamped = Backoff.from_plan({"type": "linear", "maxRetries": 99, "baseDelaySeconds": -1}, default)
    assert clamped == Backoff(10, 0.0, "exponential")
    assert Backoff.from_plan({"maxRetries": "3"}, default) == default

    exponential = Backoff(base_delay_seconds=0.5)
    assert [exponential.delay(n) for n in range(4)] == [0.5, 1.0, 2.0, 4.0]
    assert Backoff(base_delay_seconds=0.5, kind="fixed").delay(3) == 0.5
    assert exponential.delay(0, retry_after=3.0) == 3.0 and exponential.delay(3, retry_after=1.0) == 4.0
    assert exponential.delay(0, retry_after=86_400) == 120.0 and exponential.delay(10_000) == 120.0
