"""Session artifacts in-process, against a scripted provider: expiry completes a session and queues its
extraction once, a squad's active member's outputs are the ones extracted, a provider failure gives a null
result, and the extraction's calls are billed to the session."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select, update

from chatloom.domain.errors import UpstreamError
from chatloom.domain.ids import utc_now
from chatloom.jobs.runner import JobRunner
from chatloom.providers.base import ModelRequest
from chatloom.store.tables import jobs, sessions
from tests.support.databases import database_of_its_own
from tests.support.engine_world import OPENAI, World, call, reply, run, world

LEAD = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database of this module's own: its runners claim every due artifact job, and no other test's
    server may take (or leave) one there."""
    with database_of_its_own(request.param, tmp_path_factory.mktemp("artifacts")) as url:
        yield url


def runner(w: World) -> JobRunner:
    return JobRunner(w.db, w.services.artifact_jobs.handlers(), owner="test", base_backoff_seconds=0.01)


async def completed_session(w: World, assistant_id: str, *texts: str) -> dict[str, Any]:
    session = await w.services.sessions.create(w.org_id, {"assistantId": assistant_id})
    for text in texts:
        await w.chat(session_id=session["id"], input=text)
    return session


async def output(w: World, **fields: Any) -> dict[str, Any]:
    return await w.services.structured_outputs.create(
        w.org_id, {"type": "ai", "name": "lead", "schema": LEAD, **fields}
    )


def test_expiry_completes_the_session_and_extracts_once(backend: str) -> None:
    async def scenario() -> None:
        async with world(backend) as w:
            lead = await output(w)
            assistant = await w.assistant(artifactPlan={"structuredOutputIds": [lead["id"]]})
            session = await completed_session(w, assistant["id"], "name: Ada")
            async with w.db.write() as conn:
                await conn.execute(
                    update(sessions)
                    .where(sessions.c.id == session["id"])
                    .values(expires_at=utc_now() - timedelta(seconds=1))
                )
            assert await w.services.sessions.expire_due() == 1
            assert await w.services.sessions.expire_due() == 0  # once completed, never again
            w.provider.push(reply('{"name": "Ada"}'))
            assert await runner(w).run_once() >= 1
            stored = await w.services.sessions.get(w.org_id, session["id"])
            assert stored["status"] == "completed"
            assert stored["artifact"]["structuredOutputs"] == {
                lead["id"]: {"name": "lead", "result": {"name": "Ada"}}
            }
            extraction = w.provider.requests[-1]
            assert extraction.options.output_format is not None
            assert {c["model"]["model"] for c in stored["costs"]} == {"gpt-4o-mini"}
            assert stored["cost"] >= 0
            async with w.db.read() as conn:
                queued = (await conn.execute(select(func.count()).select_from(jobs))).scalar_one()
            assert queued >= 1
            assert await runner(w).run_once() == 0

    run(backend, scenario)


def test_a_squads_active_member_decides_what_is_extracted(backend: str) -> None:
    async def scenario() -> None:
        async with world(backend) as w:
            lead = await output(w)
            destination = {"type": "assistant", "assistantName": "Sales"}
            front = await w.assistant(
                name="Front",
                model={**OPENAI, "tools": [{"type": "handoff", "destinations": [destination]}]},
            )
            sales = await w.assistant(name="Sales", artifactPlan={"structuredOutputIds": [lead["id"]]})
            members = [{"assistantId": front["id"]}, {"assistantId": sales["id"]}]
            squad = await w.services.squads.create(w.org_id, {"members": members})
            session = await w.services.sessions.create(w.org_id, {"squadId": squad["id"]})
            w.provider.push(reply(tool_calls=[call("handoff_to_Sales", '{"destination":"Sales"}')]))
            w.provider.push(reply("Sales here."))
            await w.chat(session_id=session["id"], input="name: Grace, I want to buy")
            await w.services.sessions.update(w.org_id, session["id"], {"status": "completed"})
            w.provider.push(reply('{"name": "Grace"}'))
            assert await runner(w).run_once() >= 1
            stored = await w.services.sessions.get(w.org_id, session["id"])
            assert stored["artifact"]["structuredOutputs"] == {
                lead["id"]: {"name": "lead", "result": {"name": "Grace"}}
            }

    run(backend, scenario)


def test_a_provider_failure_gives_a_null_result_and_a_reason_logged(backend: str, caplog: Any) -> None:
    async def scenario() -> None:
        async with world(backend, llm_max_retries=0) as w:
            lead = await output(w)
            assistant = await w.assistant(artifactPlan={"structuredOutputIds": [lead["id"]]})
            session = await completed_session(w, assistant["id"], "hello")
            await w.services.sessions.update(w.org_id, session["id"], {"status": "completed"})

            async def down(request: ModelRequest) -> Any:
                raise UpstreamError("the provider is down", status=400)

            w.provider.push(down)
            assert await runner(w).run_once() >= 1
            stored = await w.services.sessions.get(w.org_id, session["id"])
            assert stored["artifact"]["structuredOutputs"] == {lead["id"]: {"name": "lead", "result": None}}

    run(backend, scenario)
    assert any("gave no result" in record.getMessage() for record in caplog.records)
    assert not any("hello" in record.getMessage() for record in caplog.records)


def test_the_completing_transaction_records_exactly_one_job(backend: str) -> None:
    async def scenario() -> None:
        async with world(backend) as w:
            assistant = await w.assistant()
            session = await completed_session(w, assistant["id"], "hi")
            for _ in range(3):
                await w.services.sessions.update(w.org_id, session["id"], {"status": "completed"})
            async with w.db.read() as conn:
                rows = (await conn.execute(select(jobs.c.payload).where(jobs.c.org_id == w.org_id))).all()
            assert [orjson.loads(row.payload) for row in rows] == [{"sessionId": session["id"]}]

    run(backend, scenario)
