"""Usage limits and web chat's rate limit counted in Redis (`CHATLOOM_REDIS_URL`): two servers on one SQLite
database (where, without Redis, web chat counts per process) share every count, the counts land in Redis
under their own keys, and a Redis gone away refuses limited requests with a clear 503 while unlimited ones
are served."""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from chatloom.config import Settings
from chatloom.testing.fake_llm import FakeLLM, FakeReply
from tests.api.test_usage_limits import ASSISTANT, USAGE, chat, check_budget_bound, new_key, set_limits
from tests.conftest import TEST_SECRET_KEY, provider_environment
from tests.support.client import Api
from tests.support.redis_server import forget_counts, redis_url_or_skip
from tests.support.server import ServerThread
from tests.support.tcp_proxy import TcpProxy

Pair = tuple[ServerThread, ServerThread]
SHOP = "https://shop.example"


@pytest.fixture(scope="module")
def redis_url() -> str:
    return redis_url_or_skip()


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("redis-limits") / "chatloom.db"


@pytest.fixture(scope="module")
def pair(database: Path, redis_url: str, fake_llm: FakeLLM) -> Iterator[Pair]:
    """Two servers with the same settings, Redis included: two processes of one deployment."""
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{database}",
        provider_env=provider_environment(fake_llm),
        llm_timeout_seconds=5,
        secret_key=TEST_SECRET_KEY,
        redis_url=redis_url,
    )
    first = ServerThread(settings).start()
    second = ServerThread(settings).start()
    yield first, second
    second.stop()
    first.stop()
    with sqlite3.connect(database) as conn:  # every key and org of this database was made here
        ids = [row[0] for row in conn.execute("SELECT id FROM orgs UNION SELECT id FROM api_keys")]
    forget_counts(redis_url, ids)


def public_key_id(database: Path, org_name: str) -> str:
    with sqlite3.connect(database) as conn:
        query = "SELECT k.id FROM api_keys k JOIN orgs o ON o.id = k.org_id WHERE o.name = ? AND k.kind = ?"
        row = conn.execute(query, (org_name, "public")).fetchone()
    return str(row[0])


def fresh_minute() -> int:
    """Waits out a minute about to end (so a few requests fall in one window); returns the window's end."""
    if time.time() % 60 > 50:
        time.sleep(60.5 - time.time() % 60)
    return (int(time.time()) // 60 + 1) * 60


def test_web_rate_limit_holds_across_two_servers(pair: Pair) -> None:
    first, second = pair
    key = first.create_key(f"web-{uuid.uuid4().hex[:10]}", public=True)
    headers = {"Authorization": f"Bearer {key}", "Origin": SHOP}
    statuses = []
    with httpx.Client(headers=headers, timeout=30) as page:
        # Each request counts, even a malformed one. Counted per server, the 429 would come at the 41st.
        fresh_minute()
        for index in range(41):
            response = page.post(f"{pair[index % 2].url}/chat/web", content=b"")
            statuses.append(response.status_code)
            if response.status_code == 429:
                break
    assert statuses[-1] == 429 and set(statuses[:-1]) == {400}, statuses
    assert len(statuses) == 21, "20 per minute, counted once across both servers"
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert "20 per 60 seconds" in response.json()["message"]
    other = second.create_key(f"web-{uuid.uuid4().hex[:10]}", public=True)
    fresh = httpx.post(
        f"{second.url}/chat/web", content=b"", headers={**headers, "Authorization": f"Bearer {other}"}
    )
    assert fresh.status_code == 400, "another key has its own count"


def test_requests_per_minute_hold_across_two_servers(pair: Pair) -> None:
    first, second = pair
    api, key_id = new_key(first)
    other = Api(second.url, api.key)
    set_limits(first.settings.database_url, key_id, "--requests-per-minute", "3")
    fresh_minute()
    assert [chat(client).status_code for client in (api, other, api)] == [200, 200, 200]
    for client in (other, api):
        refused = client.post("/chat", {"assistant": ASSISTANT, "input": "hi"})
        assert refused.status_code == 429
        assert "Too many requests for this API key: at most 3 per minute" in refused.json()["message"]
        assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert other.get("/limits").json()["key"]["usage"]["requestsThisMinute"] == 5
    api.close()
    other.close()


def test_a_budget_counted_in_redis_never_overshoots_by_more_than_the_turns_in_flight(
    pair: Pair, fake_llm: FakeLLM
) -> None:
    check_budget_bound(*pair, fake_llm)


def test_counts_land_in_redis_under_their_own_keys(
    pair: Pair, database: Path, redis_url: str, fake_llm: FakeLLM
) -> None:
    first, second = pair
    api, key_id = new_key(first)
    set_limits(first.settings.database_url, key_id, "--requests-per-minute", "10", "--usd-per-day", "100")
    minute_end = fresh_minute()
    day_end = (int(time.time()) // 86400 + 1) * 86400
    fake_llm.push(FakeReply(text="priced", usage=USAGE))
    cost = api.chat(assistant=ASSISTANT, input="hi")["cost"]
    org = f"web-{uuid.uuid4().hex[:10]}"
    public = first.create_key(org, public=True)
    assert (
        httpx.post(
            f"{second.url}/chat/web",
            content=b"",
            headers={"Authorization": f"Bearer {public}", "Origin": SHOP},
        ).status_code
        == 400
    )
    web_key_id = public_key_id(database, org)

    with redis.Redis.from_url(redis_url, decode_responses=True) as client:
        rpm = f"chatloom:rate:rpm:key:{key_id}:{minute_end}"
        usd = f"chatloom:rate:usd-day:key:{key_id}:{day_end}"
        web = f"chatloom:rate:web chat turns:{web_key_id}:127.0.0.1:{minute_end}"
        assert sorted(client.scan_iter(match=f"chatloom:rate:*{key_id}*")) == sorted([rpm, usd])
        assert client.get(rpm) == "1"
        assert abs(int(client.get(usd)) - cost * 1_000_000) <= 1
        assert client.get(web) == "1"
        # Each expires a minute after its window ends: no sweeping, nothing left behind.
        assert client.expiretime(rpm) == minute_end + 60
        assert client.expiretime(usd) == day_end + 60
        assert client.expiretime(web) == minute_end + 60
    usage = Api(second.url, api.key).get("/limits").json()["key"]["usage"]
    assert usage["requestsThisMinute"] == 1 and usage["usdToday"] == pytest.approx(cost, rel=1e-3)
    api.close()


def test_without_redis_limited_requests_get_503_and_unlimited_ones_are_served(
    pair: Pair, redis_url: str
) -> None:
    first, _ = pair
    target = redis.Redis.from_url(redis_url).connection_pool.connection_kwargs
    proxy = TcpProxy((target["host"], target["port"]))
    url = f"redis://127.0.0.1:{proxy.port}/{target['db']}"
    server = ServerThread(first.settings.model_copy(update={"redis_url": url})).start()
    try:
        limited, limited_id = new_key(server)
        unlimited, _ = new_key(server)
        set_limits(server.settings.database_url, limited_id, "--requests-per-minute", "100")
        public = server.create_key(f"web-{uuid.uuid4().hex[:10]}", public=True)
        page = {"Authorization": f"Bearer {public}", "Origin": SHOP}
        assert chat(limited).status_code == 200

        proxy.cut()  # Redis is gone
        refused = chat(limited)
        assert refused.status_code == 503, refused.text
        assert refused.json()["message"].startswith("Usage limits are unavailable")
        assert "Traceback" not in refused.text
        responses = limited.post("/chat/responses", {"assistant": ASSISTANT, "input": "hi", "stream": False})
        assert responses.status_code == 503
        assert responses.json()["error"]["message"].startswith("Usage limits are unavailable")
        assert limited.get("/limits").status_code == 503
        web = httpx.post(f"{server.url}/chat/web", content=b"", headers=page)
        assert web.status_code == 503 and web.headers["access-control-allow-origin"] == "*"
        assert web.json()["message"].startswith("Usage limits are unavailable")

        assert chat(unlimited).status_code == 200, "a key without limits never needs the counter"
        assert unlimited.get("/limits").json()["key"]["usage"]["requestsThisMinute"] == 0
        limited.close()
        unlimited.close()
    finally:
        server.stop()
        proxy.cut()


def test_a_burst_on_one_public_key_is_answered_200_or_429_never_503(pair: Pair) -> None:
    """300 web chat requests at once on one key: Redis is up, so each is counted (429 past the limit) or
    served; none is refused because more counts were under way than the client's connection pool holds."""
    first, _ = pair
    key = first.create_key(f"burst-{uuid.uuid4().hex[:10]}", public=True)
    headers = {"Authorization": f"Bearer {key}", "Origin": SHOP}
    body = {"assistantId": "none-such", "input": "hi"}

    async def burst() -> list[int]:
        limits = httpx.Limits(max_connections=300, max_keepalive_connections=300)
        async with httpx.AsyncClient(headers=headers, timeout=60, limits=limits) as page:
            answers = await asyncio.gather(
                *(page.post(f"{first.url}/chat/web", json=body) for _ in range(300))
            )
        return [answer.status_code for answer in answers]

    fresh_minute()
    statuses = asyncio.run(burst())
    assert 503 not in statuses, sorted(set(statuses))
    assert statuses.count(429) == 280, "20 per minute get through (to a 404: there is no such assistant)"
