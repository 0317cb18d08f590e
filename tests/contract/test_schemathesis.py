"""Schemathesis over the live server: every documented operation, checked against `GET /api-json`.

Runs on the `server` fixture (a real uvicorn server per database backend, the fake LLM behind it) with
a real API key. Bounded and reproducible: few examples per operation, a fixed seed, derandomised
generation, no stateful phase. Cases whose body holds a URL that leaves loopback are not sent: this
test must never make the server call out of the machine (webhooks, custom-llm, tool servers).
"""

from __future__ import annotations

import os
import unicodedata
import uuid
import zlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from chatloom.api.app import create_app
from chatloom.config import Settings
from tests.support.server import ServerThread

MAX_EXAMPLES = int(os.environ.get("CHATLOOM_CONTRACT_EXAMPLES", "12"))
"""Per operation and phase; raise it for a deeper (slower) run."""
SEED = 20261201
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
LOOPBACK_HOSTS = frozenset(("127.0.0.1", "localhost", "::1"))
FRAMING_HEADERS = frozenset(
    ("content-length", "transfer-encoding", "host", "connection", "expect", "upgrade", "te", "trailer")
)
"""Headers that frame the HTTP message itself: a bad value is refused by uvicorn's HTTP parser (in
plain text) before the app sees the request, so generated ones are not sent."""

CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": SEED,
        "generation": {
            "mode": "all",
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            "database": "none",
        },
        "phases": {"stateful": {"enabled": False}},
    }
)


REFERENCES = {
    "assistantId": "assistant",
    "sessionId": "session",
    "previousChatId": "chat",
    "previous_response_id": "chat",
    "squadId": "squad",
}
"""Body fields naming a record, and the kind of record they name."""


class RealRecords:
    """Makes records of the test's org on demand. Random ids only ever reach 404s, so about half of the
    generated ids (chosen by a checksum of the case, so runs stay reproducible) are replaced with the id
    of a real record: updates, deletes and chat turns then succeed and their answers are checked too."""

    def __init__(self, base_url: str, key: str) -> None:
        self.http = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30)

    def _create(self, path: str, body: dict[str, Any]) -> str:
        response = self.http.post(path, json=body)
        assert response.status_code in (200, 201), response.text
        return str(response.json()["id"])

    def new(self, kind: str) -> str:
        if kind == "assistant":
            return self._create("/assistant", {"model": {"provider": "openai", "model": "gpt-4o-mini"}})
        if kind == "tool":
            function = {"name": "lookup", "parameters": {"type": "object", "properties": {}}}
            return self._create("/tool", {"type": "function", "function": function})
        if kind == "credential":  # not a provider key: those would take part in the org's turns
            plan = {"type": "bearer", "token": "contract-token"}
            return self._create("/credential", {"provider": "custom-credential", "authenticationPlan": plan})
        if kind == "session":
            return self._create("/session", {"assistantId": self.new("assistant")})
        if kind == "squad":
            return self._create("/squad", {"members": [{"assistantId": self.new("assistant")}]})
        if kind == "structured-output":
            schema = {"type": "object", "properties": {"name": {"type": "string"}}}
            return self._create("/structured-output", {"name": "contract", "schema": schema})
        if kind == "file":
            response = self.http.post("/file", files={"file": ("contract.txt", b"contract", "text/plain")})
            assert response.status_code == 201, response.text
            return str(response.json()["id"])
        if kind == "knowledge-base":
            return self._create("/v2/knowledge-base", {"name": "contract"})
        assert kind == "chat", kind
        return self._create("/chat", {"assistantId": self.new("assistant"), "input": "hello"})

    def substitute(self, case: Any) -> None:
        """Replaces about half of the case's record ids (path `{id}`, body references) with real ones."""
        seed = repr((case.method, case.path, case.path_parameters, case.query, case.body))

        def chosen(field: str, value: Any) -> bool:
            return isinstance(value, str) and zlib.crc32(f"{field}:{seed}".encode()) % 2 == 0

        if chosen("id", (case.path_parameters or {}).get("id")):
            parts = case.path.split("/")
            case.path_parameters["id"] = self.new(parts[2] if parts[1] == "v2" else parts[1])
        if isinstance(case.body, dict):
            for field, kind in REFERENCES.items():
                if chosen(field, case.body.get(field)):
                    case.body[field] = self.new(kind)


@pytest.fixture(scope="module")
def contract_key(server: ServerThread) -> str:
    return server.create_key(f"contract-{uuid.uuid4().hex[:10]}")


@pytest.fixture(scope="module")
def records(server: ServerThread, contract_key: str) -> Iterator[RealRecords]:
    made = RealRecords(server.url, contract_key)
    yield made
    made.http.close()


def served_document() -> dict[str, Any]:
    """The document `GET /api-json` serves (it does not depend on settings; a test checks they match)."""
    return create_app(Settings(database_url="sqlite+aiosqlite:///:memory:")).openapi()


schema = schemathesis.openapi.from_dict(served_document(), config=CONFIG)


def test_the_tested_document_is_the_served_one(server: ServerThread) -> None:
    assert httpx.get(f"{server.url}/api-json").json() == served_document()


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(key)
            yield from strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings(item)


def leaves_loopback(body: Any) -> bool:
    """Whether some string of `body` could make the server call a host other than loopback."""
    for text in strings(body):
        normal = unicodedata.normalize("NFKC", text).strip().lower()
        if "http" not in normal:
            continue
        try:
            host = urlsplit(normal).hostname
        except ValueError:
            return True
        if host not in LOOPBACK_HOSTS:
            return True
    return False


@schema.parametrize()
def test_every_operation_keeps_its_documented_contract(
    case: Any, server: ServerThread, contract_key: str, records: RealRecords
) -> None:
    if leaves_loopback(case.body) or FRAMING_HEADERS & {name.lower() for name in case.headers or {}}:
        return
    records.substitute(case)
    case.call_and_validate(
        base_url=server.url, headers={"Authorization": f"Bearer {contract_key}"}, checks=CHECKS
    )
