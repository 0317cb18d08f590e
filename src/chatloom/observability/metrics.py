"""Prometheus metrics (prometheus-client): one registry per app, label children cached per label tuple.

With `PROMETHEUS_MULTIPROC_DIR` set (by `chatloom serve --workers N`), every worker writes its values to
files there and `render` sums them, so one scrape shows the whole server. Org ids become a label only when
`per_org` is set (their number is unbounded otherwise). Model names come from clients (an inline assistant
may name any model): a model the price table knows is its own label, and so are the first `max_models`
others; any further model is counted as `other`, so no client can grow a scrape (or this process's memory)
without bound.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from chatloom.domain.usage import ModelCall
from chatloom.observability.hooks import Observer, TimedTurn, TurnWatch
from chatloom.observability.tracing import Tracing

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
TURN_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
UPSTREAM_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
JOB_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0)
OTHER_MODEL = "other"
DEFAULT_MAX_MODELS = 100

KnownModel = Callable[[str, str], bool]
"""Whether `(provider, model)` is a model this server knows (has a price for)."""


class ModelLabels:
    """The `model` label of a `(provider, model)`: its name when known, or among the first `limit` unknown
    models seen, else `other`."""

    __slots__ = ("_known", "_labels", "_limit", "_unknown")

    def __init__(self, known: KnownModel | None = None, limit: int = DEFAULT_MAX_MODELS) -> None:
        self._known = known or (lambda _provider, _model: False)
        self._limit = limit
        self._labels: dict[tuple[str, str], str] = {}
        self._unknown = 0

    def __call__(self, provider: str, model: str) -> str:
        key = (provider, model)
        label = self._labels.get(key)
        if label is not None:
            return label
        if self._known(provider, model):
            label = model
        elif self._unknown < self._limit:
            self._unknown += 1
            label = model
        else:
            return OTHER_MODEL  # not remembered: the table of labels stays bounded too
        self._labels[key] = label
        return label


def multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class _Children:
    """`metric.labels(*values)` memoised per label tuple: the hot path does one dict lookup."""

    __slots__ = ("_children", "_metric")

    def __init__(self, metric: Any) -> None:
        self._metric = metric
        self._children: dict[tuple[str, ...], Any] = {}

    def __call__(self, *values: str) -> Any:
        child = self._children.get(values)
        if child is None:
            if len(self._children) > 10_000:  # a flood of distinct labels must not grow memory forever
                self._children.clear()
            child = self._children[values] = self._metric.labels(*values)
        return child


class PrometheusObserver(Observer):
    enabled = True

    def __init__(
        self,
        per_org: bool = False,
        tracing: Tracing | None = None,
        known_model: KnownModel | None = None,
        max_models: int = DEFAULT_MAX_MODELS,
    ) -> None:
        super().__init__(tracing)
        self.per_org = per_org
        self.model_label = ModelLabels(known_model, max_models)
        self.registry = CollectorRegistry(auto_describe=True)
        org = ["org_id"] if per_org else []
        registry = self.registry

        def counter(name: str, doc: str, labels: list[str]) -> _Children:
            return _Children(Counter(name, doc, labels, registry=registry))

        def histogram(name: str, doc: str, labels: list[str], buckets: tuple[float, ...]) -> _Children:
            return _Children(Histogram(name, doc, labels, registry=registry, buckets=buckets))

        self.requests = counter(
            "chatloom_http_requests",
            "HTTP requests by method, route template and status.",
            ["method", "route", "status", *org],
        )
        self.request_seconds = histogram(
            "chatloom_http_request_duration_seconds",
            "Time to answer a request (streams: to their end).",
            ["method", "route", *org],
            TURN_BUCKETS,
        )
        turn_labels = ["provider", "model", *org]
        self.turns = counter(
            "chatloom_turns", "Chat turns by provider, model and outcome.", [*turn_labels, "outcome"]
        )
        self.turn_own_seconds = histogram(
            "chatloom_turn_server_seconds",
            "The server's own time per turn: the turn's wall time less its upstream and tool waits.",
            turn_labels,
            TURN_BUCKETS,
        )
        self.upstream_seconds = histogram(
            "chatloom_turn_upstream_seconds",
            "Time per turn spent waiting on the model (retries included).",
            turn_labels,
            UPSTREAM_BUCKETS,
        )
        self.first_token_seconds = histogram(
            "chatloom_turn_first_token_seconds",
            "Time from a turn's start to its first token.",
            turn_labels,
            UPSTREAM_BUCKETS,
        )
        self.tokens = counter(
            "chatloom_tokens", "Tokens billed, by kind (prompt, completion, cached).", [*turn_labels, "kind"]
        )
        self.cost = counter("chatloom_cost_usd", "Cost of model calls in USD.", turn_labels)
        self.upstream_errors = counter(
            "chatloom_upstream_errors", "Failed model calls by provider and class.", ["provider", "class"]
        )
        self.upstream_retries = counter(
            "chatloom_upstream_retries", "Model calls retried by provider and class.", ["provider", "class"]
        )
        self.tool_call_count = counter("chatloom_tool_calls", "Tool calls by outcome.", ["outcome"])
        self.structured_output_count = counter(
            "chatloom_structured_outputs",
            "Structured outputs run on finished conversations, by outcome (extracted, failed, skipped).",
            ["outcome"],
        )
        self.webhooks = counter("chatloom_webhook_deliveries", "Webhook deliveries by outcome.", ["outcome"])
        self.lease_wait = Histogram(
            "chatloom_session_lease_wait_seconds",
            "Time a turn waited for its session's lease.",
            registry=registry,
            buckets=UPSTREAM_BUCKETS,
        )
        self.jobs = counter("chatloom_jobs", "Background job runs by kind and outcome.", ["kind", "outcome"])
        self.job_seconds = histogram(
            "chatloom_job_seconds", "Wall time of one background job run.", ["kind"], JOB_BUCKETS
        )
        self.streams = Gauge(
            "chatloom_streams_open",
            "Streamed responses open now.",
            registry=registry,
            multiprocess_mode="livesum",
        )

    def watch_turn(self, provider: str, model: str, org_id: str) -> TurnWatch:
        return TimedTurn(self, provider, model, org_id)

    def turn_finished(
        self,
        turn: TimedTurn,
        outcome: str,
        own_seconds: float,
        first_token: float | None,
        calls: Iterable[ModelCall],
    ) -> None:
        model = self.model_label(turn.provider, turn.model)
        labels = (turn.provider, model, turn.org_id) if self.per_org else (turn.provider, model)
        self.turns(*labels, outcome).inc()
        self.turn_own_seconds(*labels).observe(own_seconds)
        if turn.upstream_seconds:
            self.upstream_seconds(*labels).observe(turn.upstream_seconds)
        if first_token is not None:
            self.first_token_seconds(*labels).observe(first_token)
        for call in calls:
            called = self.model_label(call.provider, call.model)
            billed = (call.provider, called, turn.org_id) if self.per_org else (call.provider, called)
            usage = call.usage
            self.tokens(*billed, "prompt").inc(usage.prompt_tokens)
            self.tokens(*billed, "completion").inc(usage.completion_tokens)
            if usage.cached_prompt_tokens:
                self.tokens(*billed, "cached").inc(usage.cached_prompt_tokens)
            if call.cost:
                self.cost(*billed).inc(call.cost)

    def request_served(self, method: str, route: str, status: int, seconds: float, org_id: str) -> None:
        if self.per_org:
            self.requests(method, route, str(status), org_id).inc()
            self.request_seconds(method, route, org_id).observe(seconds)
        else:
            self.requests(method, route, str(status)).inc()
            self.request_seconds(method, route).observe(seconds)

    def upstream_error(self, provider: str, error_class: str, retried: bool) -> None:
        self.upstream_errors(provider, error_class).inc()
        if retried:
            self.upstream_retries(provider, error_class).inc()

    def tool_calls(self, outcome: str, count: int = 1) -> None:
        self.tool_call_count(outcome).inc(count)

    def structured_outputs(self, outcome: str, count: int = 1) -> None:
        if count:
            self.structured_output_count(outcome).inc(count)

    def background_calls(self, kind: str, org_id: str, calls: Iterable[ModelCall]) -> None:
        """Model calls of background work (extraction): their tokens and cost, like a turn's."""
        for call in calls:
            called = self.model_label(call.provider, call.model)
            billed = (call.provider, called, org_id) if self.per_org else (call.provider, called)
            self.tokens(*billed, "prompt").inc(call.usage.prompt_tokens)
            self.tokens(*billed, "completion").inc(call.usage.completion_tokens)
            if call.cost:
                self.cost(*billed).inc(call.cost)

    def webhook_delivered(self, outcome: str) -> None:
        self.webhooks(outcome).inc()

    def lease_waited(self, seconds: float) -> None:
        self.lease_wait.observe(seconds)

    def stream_opened(self) -> None:
        self.streams.inc()

    def stream_closed(self) -> None:
        self.streams.dec()

    def job_finished(self, kind: str, outcome: str, seconds: float) -> None:
        self.jobs(kind, outcome).inc()
        self.job_seconds(kind).observe(seconds)

    def render(self) -> bytes:
        """The exposition text: this process's registry, or every worker's files in multiprocess mode."""
        if multiprocess():
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return bytes(generate_latest(registry))
        return bytes(generate_latest(self.registry))


def observer_for(
    enabled: bool,
    per_org: bool,
    tracing: Tracing | None = None,
    known_model: KnownModel | None = None,
    max_models: int = DEFAULT_MAX_MODELS,
) -> Observer:
    if not enabled:
        return Observer(tracing)
    return PrometheusObserver(per_org, tracing, known_model, max_models)
