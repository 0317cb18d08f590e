"""End to end: `chatloom serve` with CHATLOOM_SECRET_KEY missing, wrong or malformed, and key rotation
with `chatloom credentials rotate`, each on a database of its own."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time

import httpx
from sqlalchemy import text

from chatloom.domain.ids import new_id, utc_now
from chatloom.store import assistants
from chatloom.store.db import Database, create_engine
from chatloom.testing.fake_llm import FakeLLM
from tests.support.serve import CHATLOOM, ServeProcess, cli, refused_start

OLD_KEY = "UE3B8jx3fSSIRh6I5TYFyRLzVDB4sDaa8GmPIE6mPl8="
NEW_KEY = "u9ed8Y5yXU2bKgRRu1wGSxIXtU4u8oQG1VLUlWGIMo0="
OTHER_KEY = "jgiyuADCs8vBJWlBDJW8z1sdNUgZ8LbWWQjGkomjYp0="


def environment(database_url: str, fake: FakeLLM, secret_key: str | None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith(("_API_KEY", "_BASE_URL")) and not k.startswith("CHATLOOM_SECRET_KEY")
    }
    env.update(
        CHATLOOM_DATABASE_URL=database_url, CHATLOOM_AUTH_CACHE_SECONDS="0", OPENAI_BASE_URL=fake.base_url
    )
    if secret_key is not None:
        env["CHATLOOM_SECRET_KEY"] = secret_key
    return env


def chat_key(url: str, api_key: str, fake: FakeLLM) -> str:
    """The Authorization header the model got for a chat of the org."""
    headers = {"Authorization": f"Bearer {api_key}"}
    body = {"assistant": {"model": {"provider": "openai", "model": "gpt-4o-mini"}}, "input": "hi"}
    response = httpx.post(f"{url}/chat", json=body, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return str(fake.requests[-1].headers.get("Authorization"))


def store_plaintext_assistant(database_url: str, org_id: str, provider_key: str) -> str:
    """An assistant as versions before sealing stored it: inline credentials in plaintext."""

    async def store() -> str:
        db = Database(create_engine(database_url, pool_size=1))
        assistant_id = new_id()
        document = {
            "model": {"provider": "openai", "model": "gpt-4o-mini"},
            "credentials": [{"provider": "openai", "apiKey": provider_key}],
        }
        try:
            async with db.write() as conn:
                await assistants.insert(conn, org_id, assistant_id, document, utc_now())
        finally:
            await db.dispose()
        return assistant_id

    return asyncio.run(store())


def assistant_bodies(database_url: str) -> str:
    async def read() -> str:
        db = Database(create_engine(database_url, pool_size=1))
        try:
            async with db.read() as conn:
                return "\n".join(row.body for row in await conn.execute(text("SELECT body FROM assistants")))
        finally:
            await db.dispose()

    return asyncio.run(read())


def test_secret_key_start_up_and_rotation(fresh_database: str, fake_llm: FakeLLM) -> None:
    provider_key = f"sk-rotation-{time.monotonic_ns()}"
    old = environment(fresh_database, fake_llm, OLD_KEY)
    api_key = cli(old, "keys", "create", "--org", "rotation").strip().splitlines()[-1]
    with ServeProcess(old) as server:
        url = server.url
        created = httpx.post(
            f"{url}/credential",
            json={"provider": "openai", "apiKey": provider_key},
            headers={"Authorization": f"Bearer {api_key}"},
        )
        assert created.status_code == 201, created.text
        assert chat_key(url, api_key, fake_llm) == f"Bearer {provider_key}"
        org_id = created.json()["orgId"]
    legacy_key = f"sk-legacy-{time.monotonic_ns()}"
    legacy_id = store_plaintext_assistant(fresh_database, org_id, legacy_key)

    assert "CHATLOOM_SECRET_KEY is not set" in refused_start(environment(fresh_database, fake_llm, None))
    assert "cannot decrypt" in refused_start(environment(fresh_database, fake_llm, OTHER_KEY))
    assert "not a Fernet key" in refused_start(environment(fresh_database, fake_llm, "not-a-key"))

    both = environment(fresh_database, fake_llm, f"{NEW_KEY},{OLD_KEY}")
    assert "re-encrypted 2 secret(s)" in cli(both, "credentials", "rotate")
    assert legacy_key not in assistant_bodies(fresh_database), "rotate also seals plaintext of old versions"

    assert "cannot decrypt" in refused_start(environment(fresh_database, fake_llm, OLD_KEY))
    new_only = environment(fresh_database, fake_llm, NEW_KEY)
    with ServeProcess(new_only) as server:
        url = server.url
        assert chat_key(url, api_key, fake_llm) == f"Bearer {provider_key}", "the old key is not needed"
        headers = {"Authorization": f"Bearer {api_key}"}
        chat = httpx.post(f"{url}/chat", json={"assistantId": legacy_id, "input": "hi"}, headers=headers)
        assert (
            chat.status_code == 200
            and fake_llm.requests[-1].headers["Authorization"] == f"Bearer {legacy_key}"
        )


def test_secret_key_prints_a_usable_key() -> None:
    key = subprocess.run([CHATLOOM, "secret-key"], capture_output=True, text=True, check=True).stdout.strip()
    from cryptography.fernet import Fernet

    assert Fernet(key.encode()).decrypt(Fernet(key.encode()).encrypt(b"x")) == b"x"
