"""End to end: identity secrets of public keys with the `chatloom` command (made, listed, replaced,
removed, re-encrypted by `credentials rotate`) and `chatloom serve` checking `customer.identityHash`."""

from __future__ import annotations

import hashlib
import hmac
import subprocess
import uuid

import httpx

from chatloom.testing.fake_llm import FakeLLM
from tests.e2e.test_secret_key import NEW_KEY, OLD_KEY
from tests.e2e.test_secret_key import environment as keyed_environment
from tests.support.serve import CHATLOOM, ServeProcess, cli, refused_start


def environment(database_url: str, fake: FakeLLM, secret_key: str | None) -> dict[str, str]:
    return {**keyed_environment(database_url, fake, secret_key), "OPENAI_API_KEY": "sk-e2e"}


def failed(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([CHATLOOM, *args], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0, result.stdout
    return result


def secret_of(output: str) -> str:
    return next(line for line in output.splitlines() if line.startswith("identity secret")).rsplit(" ", 1)[-1]


def signed_turn(url: str, key: str, assistant_id: str, email: str, secret: str) -> httpx.Response:
    signature = hmac.new(secret.encode(), f"email:{email}".encode(), hashlib.sha256).hexdigest()
    body = {
        "assistantId": assistant_id,
        "customer": {"email": email, "identityHash": signature},
        "input": "hi",
    }
    return httpx.post(f"{url}/chat/web", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def test_identity_secrets_from_the_cli(fresh_database: str, fake_llm: FakeLLM) -> None:
    database = fresh_database
    org = f"identity-{uuid.uuid4().hex[:8]}"
    unkeyed = environment(database, fake_llm, None)
    refused = failed(unkeyed, "keys", "create", "--org", org, "--public", "--identity-secret")
    assert refused.returncode == 1 and "CHATLOOM_SECRET_KEY" in refused.stderr
    assert org not in cli(unkeyed, "keys", "list"), "no key was made"
    private_only = failed(unkeyed, "keys", "create", "--org", org, "--identity-secret")
    assert "--public" in private_only.stderr

    old = environment(database, fake_llm, OLD_KEY)
    private = cli(old, "keys", "create", "--org", org).strip().splitlines()[-1]
    created = cli(old, "keys", "create", "--org", org, "--public", "--identity-secret")
    key, first = created.strip().splitlines()[-1], secret_of(created)
    assert key.startswith("cl_pub_") and first.startswith("cl_idsec_")
    assert failed(old, "keys", "identity-secret", private[:10]).returncode == 1, "public keys only"
    listed = cli(old, "keys", "list", "--org", org)
    assert "identity-secret=yes" in listed and first not in listed
    email = f"ada-{uuid.uuid4().hex[:8]}@example.com"
    with ServeProcess(old) as server:
        url = server.url
        assistant = httpx.post(
            f"{url}/assistant",
            json={"model": {"provider": "openai", "model": "gpt-4o-mini"}},
            headers={"Authorization": f"Bearer {private}"},
        ).json()
        session_id = signed_turn(url, key, assistant["id"], email, first).json()["sessionId"]
        assert signed_turn(url, key, assistant["id"], email, first).json()["sessionId"] == session_id
        second = cli(old, "keys", "identity-secret", key[:14]).strip().splitlines()[-1]
        assert second.startswith("cl_idsec_") and second != first
        assert signed_turn(url, key, assistant["id"], email, first).status_code == 403, (
            "the old one is revoked"
        )
        assert signed_turn(url, key, assistant["id"], email, second).json()["sessionId"] == session_id

    both = environment(database, fake_llm, f"{NEW_KEY},{OLD_KEY}")
    assert "re-encrypted 1 secret(s)" in cli(both, "credentials", "rotate")
    new_only = environment(database, fake_llm, NEW_KEY)
    assert "cannot decrypt" in refused_start(old), "a key that opens no identity secret does not start"
    with ServeProcess(new_only) as server:
        url = server.url
        rejoined = signed_turn(url, key, assistant["id"], email, second)
        assert rejoined.status_code == 200 and rejoined.json()["sessionId"] == session_id
        assert "removed" in cli(new_only, "keys", "identity-secret", key, "--remove")
        refused_now = signed_turn(url, key, assistant["id"], email, second)
        assert refused_now.status_code == 400 and "customer.identityHash" in refused_now.json()["message"]
    assert "identity-secret=no" in cli(new_only, "keys", "list", "--org", org)
