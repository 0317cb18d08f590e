"""The hooks the server calls to report what it does; this base class does nothing (metrics off).

`Observer` is what the engine, the model caller, the tool runner and the webhook dispatcher hold. Each hook
is one cheap method call; `PrometheusObserver` (observability.metrics) overrides them. `TurnWatch` times
one turn: its upstream and tool waits, its first token, and how it ended.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from chatloom.domain.messages import ToolCall
from chatloom.domain.usage import ModelCall, Usage

if TYPE_CHECKING:
    from chatloom.observability.tracing import Tracing


class TurnWatch:
    """Times one turn. This one does nothing; `Observer.watch_turn` gives a live one when metrics are on."""

    __slots__ = ()

    def upstream_started(self) -> None:
        pass

    def upstream_ended(self, usage: Usage | None = None, response_model: str | None = None) -> None:
        pass

    def first_token(self) -> None:
        pass

    def tools_started(self, calls: Sequence[ToolCall] = ()) -> None:
        pass

    def tools_ended(self) -> None:
        pass

    def finish(self, outcome: str, calls: Iterable[ModelCall]) -> None:
        pass


NO_WATCH = TurnWatch()


class TimedTurn(TurnWatch):
    """Wall-clock times of one turn; `finish` hands them to the observer once."""

    __slots__ = (
        "_call_span",
        "_observer",
        "_span",
        "_started",
        "_tool_span",
        "_tools_since",
        "_upstream_since",
        "first_token_at",
        "model",
        "org_id",
        "provider",
        "tools_seconds",
        "upstream_seconds",
    )

    def __init__(self, observer: Observer, provider: str, model: str, org_id: str) -> None:
        self._observer = observer
        self.provider, self.model, self.org_id = provider, model, org_id
        self._started = time.perf_counter()
        self._upstream_since = self._tools_since = 0.0
        self.upstream_seconds = self.tools_seconds = 0.0
        self.first_token_at: float | None = None
        self._span: Any = None
        self._call_span: Any = None
        self._tool_span: Any = None
        tracing = observer.tracing
        if tracing is not None:
            self._span = tracing.start(
                "chat_turn",
                {"gen_ai.system": provider, "gen_ai.request.model": model, "chatloom.org_id": org_id},
            )

    def upstream_started(self) -> None:
        self._upstream_since = time.perf_counter()
        tracing = self._observer.tracing
        if tracing is not None:
            self._call_span = tracing.start(
                f"chat {self.model}",
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.system": self.provider,
                    "gen_ai.request.model": self.model,
                },
                parent=self._span,
            )

    def upstream_ended(self, usage: Usage | None = None, response_model: str | None = None) -> None:
        now = time.perf_counter()
        self.upstream_seconds += now - self._upstream_since
        if self.first_token_at is None:
            self.first_token_at = now
        span, self._call_span = self._call_span, None
        if span is not None:
            if usage is not None:
                span.set_attribute("gen_ai.usage.input_tokens", usage.prompt_tokens)
                span.set_attribute("gen_ai.usage.output_tokens", usage.completion_tokens)
            if response_model:
                span.set_attribute("gen_ai.response.model", response_model)
            span.end()

    def first_token(self) -> None:
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()

    def tools_started(self, calls: Sequence[ToolCall] = ()) -> None:
        self._tools_since = time.perf_counter()
        tracing = self._observer.tracing
        if tracing is not None:
            names = [call["function"]["name"] for call in calls]
            self._tool_span = tracing.start(
                f"execute_tool {','.join(names)}",
                {
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": names,
                    "gen_ai.tool.call.id": [call["id"] for call in calls],
                },
                parent=self._span,
            )

    def tools_ended(self) -> None:
        self.tools_seconds += time.perf_counter() - self._tools_since
        span, self._tool_span = self._tool_span, None
        if span is not None:
            span.end()

    def finish(self, outcome: str, calls: Iterable[ModelCall]) -> None:
        if self._span is not None:
            self._end_spans(outcome)
        total = time.perf_counter() - self._started
        first = None if self.first_token_at is None else self.first_token_at - self._started
        own = max(0.0, total - self.upstream_seconds - self.tools_seconds)
        self._observer.turn_finished(self, outcome, own, first, calls)

    def _end_spans(self, outcome: str) -> None:
        tracing = self._observer.tracing
        assert tracing is not None
        for span in (self._call_span, self._tool_span):
            if span is not None:
                tracing.failed(span, outcome)
                span.end()
        self._span.set_attribute("chatloom.turn.outcome", outcome)
        if outcome != "completed":
            tracing.failed(self._span, outcome)
        self._span.end()


class Observer:
    """Metrics off: every hook is a no-op."""

    enabled = False

    def __init__(self, tracing: Tracing | None = None) -> None:
        self.tracing = tracing

    def watch_turn(self, provider: str, model: str, org_id: str) -> TurnWatch:
        return NO_WATCH if self.tracing is None else TimedTurn(self, provider, model, org_id)

    def start_span(self, name: str, attributes: dict[str, Any]) -> Any:
        """A span under the current one when tracing is on, else None (end it with `end_span`)."""
        return None if self.tracing is None else self.tracing.start(name, attributes)

    def end_span(self, span: Any, error: str | None = None) -> None:
        if span is not None and self.tracing is not None:
            if error is not None:
                self.tracing.failed(span, error)
            span.end()

    def turn_finished(
        self,
        turn: TimedTurn,
        outcome: str,
        own_seconds: float,
        first_token: float | None,
        calls: Iterable[ModelCall],
    ) -> None:
        pass

    def request_served(self, method: str, route: str, status: int, seconds: float, org_id: str) -> None:
        pass

    def upstream_error(self, provider: str, error_class: str, retried: bool) -> None:
        pass

    def tool_calls(self, outcome: str, count: int = 1) -> None:
        pass

    def structured_outputs(self, outcome: str, count: int = 1) -> None:
        pass

    def background_calls(self, kind: str, org_id: str, calls: Iterable[ModelCall]) -> None:
        pass

    def webhook_delivered(self, outcome: str) -> None:
        pass

    def lease_waited(self, seconds: float) -> None:
        pass

    def stream_opened(self) -> None:
        pass

    def stream_closed(self) -> None:
        pass

    def job_finished(self, kind: str, outcome: str, seconds: float) -> None:
        """A background job's run ended: `done`, `retried`, `failed`, `lost` (its lease, so another process
        runs it) or `released` (handed back at shutdown); `seconds` is the run's wall time."""


NO_OBSERVER = Observer()
