"""Traces: one turn with a tool call, exported over OTLP/HTTP (protobuf) to a real receiver on loopback."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from chatloom.config import Settings
from chatloom.testing.fake_llm import FakeLLM, FakeReply
from chatloom.testing.http_recorder import HttpRecorder, RecordedCall, Scripted
from tests.conftest import TEST_SECRET_KEY, provider_environment
from tests.support.client import Api
from tests.support.server import ServerThread

WEATHER = {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}


@pytest.fixture(scope="module")
def collector() -> Iterator[HttpRecorder]:
    with HttpRecorder().start() as recorder:
        yield recorder


@pytest.fixture(scope="module")
def traced(backend: str, fake_llm: FakeLLM, collector: HttpRecorder) -> Iterator[ServerThread]:
    """A server exporting to the collector: the standard variables are read when the app is built."""
    variables = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url, "OTEL_BSP_SCHEDULE_DELAY": "50"}
    os.environ.update(variables)
    try:
        settings = Settings(
            database_url=backend, provider_env=provider_environment(fake_llm), secret_key=TEST_SECRET_KEY
        )
        thread = ServerThread(settings).start()
    finally:
        for name in variables:
            os.environ.pop(name, None)
    yield thread
    thread.stop()


def attributes(span: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for item in span.attributes:
        value = item.value
        kind = value.WhichOneof("value")
        if kind == "array_value":
            found[item.key] = [entry.string_value for entry in value.array_value.values]
        else:
            found[item.key] = getattr(value, kind)
    return found


def spans_of(collector: HttpRecorder, trace_id: bytes | None = None) -> list[Any]:
    spans = []
    for call in collector.calls_to("/v1/traces"):
        assert call.headers["content-type"] == "application/x-protobuf"
        request = ExportTraceServiceRequest.FromString(call.body)
        for resource in request.resource_spans:
            for scope in resource.scope_spans:
                spans.extend(scope.spans)
    return [span for span in spans if trace_id is None or span.trace_id == trace_id]


def test_a_turn_with_a_tool_call_is_traced(
    traced: ServerThread, fake_llm: FakeLLM, collector: HttpRecorder
) -> None:
    collector.reset()

    def answer(call: RecordedCall) -> Scripted:
        results = [{"toolCallId": item["id"], "result": "7"} for item in call.json["message"]["toolCallList"]]
        return Scripted(json={"results": results})

    collector.on("/tools", answer)
    api = Api(traced.url, traced.create_key(f"traced-{uuid.uuid4().hex[:10]}"))
    tool = {"type": "function", "function": WEATHER, "server": {"url": f"{collector.url}/tools"}}
    assistant = api.create_assistant(
        model={"provider": "openai", "model": "gpt-4o-mini", "tools": [tool]},
        serverMessages=["chat.created"],
        server={"url": f"{collector.url}/hooks"},
    )
    call = {"id": "call_9", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
    usage = {"prompt_tokens": 50, "completion_tokens": 5}
    fake_llm.push(FakeReply(tool_calls=[call], usage=usage), FakeReply(text="7 degrees", usage=usage))
    response = api.post("/chat", {"assistantId": assistant["id"], "input": "weather?"})
    assert response.status_code == 200

    deadline = time.monotonic() + 10
    while True:
        names = {span.name for span in spans_of(collector)}
        if {"POST /chat", "chat_turn", "webhook chat.created"} <= names or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    [request] = [span for span in spans_of(collector) if span.name == "POST /chat"]
    spans = spans_of(collector, request.trace_id)
    by_name: dict[str, list[Any]] = {}
    for span in spans:
        by_name.setdefault(span.name, []).append(span)
    assert attributes(request)["http.route"] == "/chat"
    assert attributes(request)["http.response.status_code"] == 200
    assert attributes(request)["chatloom.request_id"] == response.headers["x-request-id"]
    [turn] = by_name["chat_turn"]
    assert turn.parent_span_id == request.span_id
    assert attributes(turn)["chatloom.turn.outcome"] == "completed"
    model_calls = by_name["chat gpt-4o-mini"]
    assert len(model_calls) == 2 and all(span.parent_span_id == turn.span_id for span in model_calls)
    for span in model_calls:
        found = attributes(span)
        assert found["gen_ai.system"] == "openai" and found["gen_ai.request.model"] == "gpt-4o-mini"
        assert found["gen_ai.operation.name"] == "chat"
        assert found["gen_ai.usage.input_tokens"] == 50 and found["gen_ai.usage.output_tokens"] == 5
    [tools] = by_name["execute_tool get_weather"]
    assert tools.parent_span_id == turn.span_id
    assert attributes(tools)["gen_ai.tool.name"] == ["get_weather"]
    assert attributes(tools)["gen_ai.tool.call.id"] == ["call_9"]
    [webhook] = by_name["webhook chat.created"]
    assert webhook.trace_id == request.trace_id
    api.close()
