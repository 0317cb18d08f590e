"""OpenTelemetry traces over OTLP, only when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) is set
and the `otel` extra is installed (`pip install chatloom[otel]`); otherwise nothing of OpenTelemetry is
imported and no span object is ever made. Spans follow the GenAI semantic conventions for model calls.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger("chatloom.tracing")


class Tracing:
    """A tracer provider of our own (the global one is left to the embedding application)."""

    def __init__(self, provider: Any) -> None:
        from opentelemetry import context, trace

        self.provider = provider
        self.tracer = provider.get_tracer("chatloom")
        self._context = context
        self._trace = trace
        self.SERVER = trace.SpanKind.SERVER
        self.CLIENT = trace.SpanKind.CLIENT

    def start(self, name: str, attributes: dict[str, Any], parent: Any = None, kind: Any = None) -> Any:
        """A started span, child of `parent` (a span) or of the current context."""
        context = self._trace.set_span_in_context(parent) if parent is not None else None
        return self.tracer.start_span(name, context=context, attributes=attributes, kind=kind or self.CLIENT)

    def activate(self, span: Any) -> Any:
        """Makes `span` the current one; returns the token for `deactivate`."""
        return self._context.attach(self._trace.set_span_in_context(span))

    def deactivate(self, token: Any) -> None:
        self._context.detach(token)

    def failed(self, span: Any, description: str) -> None:
        span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, description))

    @contextmanager
    def span(self, name: str, attributes: dict[str, Any]) -> Iterator[Any]:
        span = self.start(name, attributes)
        try:
            yield span
        finally:
            span.end()

    def shutdown(self) -> None:
        self.provider.shutdown()


def tracing_from_environment() -> Tracing | None:
    if not (
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    ):
        return None
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but OpenTelemetry is not installed: "
            "pip install 'chatloom[otel]' to export traces"
        )
        return None
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "chatloom")})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return Tracing(provider)
