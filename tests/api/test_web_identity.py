"""Web visitors cannot claim an identity: a public key's `customer` finds a customer's session only when
the site vouches for it with `customer.identityHash`, HMAC-SHA256 with the key's identity secret."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from typer.testing import CliRunner

from chatloom.cli import app
from chatloom.testing.fake_llm import FakeLLM
from chatloom.testing.http_recorder import HttpRecorder
from tests.conftest import TEST_SECRET_KEY
from tests.support.client import Api
from tests.support.off_loop import off_loop
from tests.support.server import ServerThread

SHOP = "https://shop.example"


def sign(secret: str, identity: str) -> str:
    """What the site's server computes: hex HMAC-SHA256 of `<field>:<value>` keyed with the secret."""
    return hmac.new(secret.encode(), identity.encode(), hashlib.sha256).hexdigest()


@dataclass
class Site:
    """An org with a private key (`api`), keys made with the `chatloom` command, and pages that use them."""

    name: str
    api: Api
    server: ServerThread

    def cli(self, *args: str) -> str:
        env = {
            "CHATLOOM_DATABASE_URL": self.server.settings.database_url,
            "CHATLOOM_SECRET_KEY": TEST_SECRET_KEY,
        }
        result = off_loop(lambda: CliRunner().invoke(app, list(args), env=env))
        assert result.exit_code == 0, result.output
        return result.stdout

    def signing_key(self) -> tuple[str, str]:
        """A public key with an identity secret: (key, secret)."""
        output = self.cli("keys", "create", "--org", self.name, "--public", "--identity-secret")
        lines = output.strip().splitlines()
        secret = next(line for line in lines if line.startswith("identity secret")).rsplit(" ", 1)[-1]
        return lines[-1], secret

    def plain_key(self) -> str:
        return self.server.create_key(self.name, public=True)

    def page(self, key: str) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}", "Origin": SHOP}
        return httpx.Client(base_url=self.server.url, headers=headers, timeout=30)

    def customer_session(self, assistant_id: str, customer: dict[str, Any], said: str) -> str:
        """A session made with the private API for `customer`, with one turn in which they said `said`."""
        session = self.api.post("/session", {"assistantId": assistant_id, "customer": customer}).json()
        self.api.chat(sessionId=session["id"], input=said)
        return str(session["id"])


@pytest.fixture
def site(server: ServerThread) -> Iterator[Site]:
    name = f"site-{uuid.uuid4().hex[:10]}"
    api = Api(server.url, server.create_key(name))
    yield Site(name, api, server)
    api.close()


def turn(page: httpx.Client, body: dict[str, Any], path: str = "/chat/web") -> dict[str, Any]:
    response = page.post(path, json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def refusal(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["access-control-allow-origin"] == "*", "a page must read refusals"
    message = response.json()["message"]
    return message if isinstance(message, str) else "; ".join(message)


def sent_to_model(fake: FakeLLM) -> str:
    return orjson.dumps(fake.requests[-1].json["messages"]).decode()


def test_a_claimed_email_does_not_join_the_customers_session(site: Site, fake_llm: FakeLLM) -> None:
    assistant = site.api.create_assistant()
    victim = f"victim-{uuid.uuid4().hex[:8]}@example.com"
    session_id = site.customer_session(assistant["id"], {"email": victim}, "my card ends in 4242")
    claim = {"assistantId": assistant["id"], "customer": {"email": f"  {victim.upper()} "}}
    with site.page(site.plain_key()) as page:
        chat = turn(page, {**claim, "input": "what did I tell you?"})
        assert chat["sessionId"] != session_id
        assert chat["output"][0]["content"] == "You said: what did I tell you?"
        assert "4242" not in sent_to_model(fake_llm), "nothing of the customer's history reached the model"
        response = page.post("/chat/web/responses", json={**claim, "input": "again?", "stream": False})
        assert response.status_code == 200, response.text
        assert response.json()["sessionId"] not in (session_id, chat["sessionId"])
        assert "4242" not in sent_to_model(fake_llm)
    history = site.api.get(f"/session/{session_id}").json()["messages"]
    assert [m["content"] for m in history] == ["my card ends in 4242", "You said: my card ends in 4242"]
    recorded = site.api.get(f"/session/{chat['sessionId']}").json()
    assert recorded["customer"] == {"email": f"  {victim.upper()} "}, "the claim is recorded as sent"


def test_a_signed_customer_joins_their_latest_session(site: Site, fake_llm: FakeLLM) -> None:
    assistant = site.api.create_assistant()
    key, secret = site.signing_key()
    assert secret.startswith("cl_idsec_") and key.startswith("cl_pub_")
    email = f"ada-{uuid.uuid4().hex[:8]}@example.com"
    session_id = site.customer_session(assistant["id"], {"email": email}, "my order is 77")
    with site.page(key) as page:
        signed = {"email": email.upper(), "identityHash": sign(secret, f"email:{email}")}
        chat = turn(page, {"assistantId": assistant["id"], "customer": signed, "input": "status?"})
        assert chat["sessionId"] == session_id
        assert "my order is 77" in sent_to_model(fake_llm), "the customer's own history is continued"
        external = f"ext-{uuid.uuid4().hex}"
        strongest = {"externalId": external, "email": email, "name": "Ada"}
        first = turn(
            page,
            {
                "assistantId": assistant["id"],
                "customer": {**strongest, "identityHash": sign(secret, f"externalId:{external}").upper()},
                "input": "hi",
            },
        )
        assert first["sessionId"] != session_id, "externalId identifies first: a customer of its own"
        again = turn(
            page,
            {
                "assistantId": assistant["id"],
                "customer": {"externalId": external, "identityHash": sign(secret, f"externalId:{external}")},
                "input": "back",
            },
        )
        assert again["sessionId"] == first["sessionId"]
    for stored in (session_id, first["sessionId"]):
        text = site.api.get(f"/session/{stored}").text
        assert "identityHash" not in text and secret not in text
    assert site.api.get(f"/session/{first['sessionId']}").json()["customer"] == strongest


def test_a_wrong_signature_is_refused_naming_the_field(site: Site, fake_llm: FakeLLM) -> None:
    assistant = site.api.create_assistant()
    key, secret = site.signing_key()
    email = f"grace-{uuid.uuid4().hex[:8]}@example.com"
    body = {"assistantId": assistant["id"], "input": "hi"}
    with site.page(key) as page:

        def customer(**fields: Any) -> httpx.Response:
            return page.post("/chat/web", json={**body, "customer": fields})

        for wrong in (
            sign(secret, f"email:someone-else-{email}"),
            sign("cl_idsec_not-the-secret", f"email:{email}"),
            sign(secret, email),
        ):
            assert "customer.identityHash" in refusal(customer(email=email, identityHash=wrong), 403)
        assert "customer.identityHash" in refusal(customer(email=email, identityHash="abc"), 400)
        name_only = customer(name="Grace", identityHash=sign(secret, "name:Grace"))
        assert "customer.identityHash" in refusal(name_only, 400)
        responses = page.post(
            "/chat/web/responses",
            json={**body, "stream": False, "customer": {"email": email, "identityHash": "0" * 64}},
        )
        assert (
            responses.status_code == 403 and "customer.identityHash" in responses.json()["error"]["message"]
        )
    assert not fake_llm.requests, "no refused request reached the model"


def test_a_signature_for_a_key_without_identity_secret_is_a_400(site: Site, fake_llm: FakeLLM) -> None:
    assistant = site.api.create_assistant()
    customer = {"email": "someone@example.com", "identityHash": sign("any", "email:someone@example.com")}
    with site.page(site.plain_key()) as page:
        response = page.post(
            "/chat/web", json={"assistantId": assistant["id"], "customer": customer, "input": "x"}
        )
    message = refusal(response, 400)
    assert "customer.identityHash" in message and "identity secret" in message
    assert not fake_llm.requests


def test_an_unsigned_claim_starts_no_session_the_customer_later_joins(site: Site, fake_llm: FakeLLM) -> None:
    assistant = site.api.create_assistant()
    key, secret = site.signing_key()
    email = f"target-{uuid.uuid4().hex[:8]}@example.com"
    with site.page(key) as page:
        planted = turn(page, {"assistantId": assistant["id"], "customer": {"email": email}, "input": "bait"})
        signed = {"email": email, "identityHash": sign(secret, f"email:{email}")}
        real = turn(page, {"assistantId": assistant["id"], "customer": signed, "input": "my pin is 9911"})
        assert real["sessionId"] != planted["sessionId"], "the vouched customer is not led into it"
        again = turn(page, {"assistantId": assistant["id"], "sessionId": planted["sessionId"], "input": "?"})
        assert again["sessionId"] == planted["sessionId"], "the page's own sessionId still works"
        assert "9911" not in sent_to_model(fake_llm)
    with site.page(site.api.key) as backend:
        joined = turn(backend, {"assistantId": assistant["id"], "customer": {"email": email}, "input": "x"})
    assert joined["sessionId"] == real["sessionId"]


def test_private_keys_join_by_customer_as_before(site: Site, fake_llm: FakeLLM) -> None:
    assistant = site.api.create_assistant()
    number = f"+1415555{uuid.uuid4().int % 10_000:04d}"
    session_id = site.customer_session(assistant["id"], {"number": number}, "hello there")
    with site.page(site.api.key) as backend:
        body = {"assistantId": assistant["id"], "input": "more"}
        assert turn(backend, {**body, "customer": {"number": number}})["sessionId"] == session_id
        signed = {"number": number, "identityHash": "f" * 64}
        refused = backend.post("/chat/web", json={**body, "customer": signed})
        assert refused.status_code == 400 and "customer.identityHash" in refused.json()["message"]
    assert "identityHash" not in site.api.get(f"/session/{session_id}").text


def test_the_signature_is_in_no_server_message_nor_prompt(site: Site, fake_llm: FakeLLM) -> None:
    key, secret = site.signing_key()
    external = f"ext-{uuid.uuid4().hex}"
    signature = sign(secret, f"externalId:{external}")
    with HttpRecorder().start() as hooks:
        assistant = site.api.create_assistant(
            model={
                "provider": "openai",
                "model": "gpt-4o-mini",
                "messages": [{"role": "system", "content": "Customer: {{ customer }}"}],
            },
            serverMessages=["session.created", "chat.created"],
            server={"url": f"{hooks.url}/hooks"},
        )
        with site.page(key) as page:
            customer = {"externalId": external, "identityHash": signature}
            chat = turn(page, {"assistantId": assistant["id"], "customer": customer, "input": "hi"})
        received = hooks.wait_for(2, path="/hooks")
    assert {call.json["message"]["type"] for call in received} == {"session.created", "chat.created"}
    for call in received:
        assert b"identityHash" not in call.body and signature.encode() not in call.body
    assert external in sent_to_model(fake_llm) and signature not in sent_to_model(fake_llm)
    assert "identityHash" not in site.api.get(f"/session/{chat['sessionId']}").text


def test_keys_list_shows_which_public_keys_have_an_identity_secret(site: Site) -> None:
    site.signing_key()
    plain = site.plain_key()
    listed = site.cli("keys", "list", "--org", site.name).splitlines()
    public = [line for line in listed if "public" in line]
    assert len(public) == 2
    assert sum("identity-secret=yes" in line for line in public) == 1
    assert any(plain[:14] in line and "identity-secret=no" in line for line in public)
