"""The hooks the server calls to report what it does; this base class does nothing (metrics off).

`Observer` is what the engine, the model caller, the tool runner and the webhook dispatcher hold. Each hook
is one cheap method call; `PrometheusObserver` (observability.metrics) overrides them. `TurnWatch` times
one turn: its upstream and tool waits, its first token, and how it ended.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from chatloom.domain.usage import ModelCall


class TurnWatch:
    """Times one turn. This one does nothing; `Observer.watch_turn` gives a live one when metrics are on."""

    __slots__ = ()

    def upstream_started(self) -> None:
        pass

    def upstream_ended(self) -> None:
        pass

    def first_token(self) -> None:
        pass

    def tools_started(self) -> None:
        pass

    def tools_ended(self) -> None:
        pass

    def finish(self, outcome: str, calls: Iterable[ModelCall]) -> None:
        pass


NO_WATCH = TurnWatch()


class TimedTurn(TurnWatch):
    """Wall-clock times of one turn; `finish` hands them to the observer once."""

    __slots__ = (
        "_observer",
        "_started",
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

    def upstream_started(self) -> None:
        self._upstream_since = time.perf_counter()

    def upstream_ended(self) -> None:
        now = time.perf_counter()
        self.upstream_seconds += now - self._upstream_since
        if self.first_token_at is None:
            self.first_token_at = now

    def first_token(self) -> None:
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()

    def tools_started(self) -> None:
        self._tools_since = time.perf_counter()

    def tools_ended(self) -> None:
        self.tools_seconds += time.perf_counter() - self._tools_since

    def finish(self, outcome: str, calls: Iterable[ModelCall]) -> None:
        total = time.perf_counter() - self._started
        first = None if self.first_token_at is None else self.first_token_at - self._started
        own = max(0.0, total - self.upstream_seconds - self.tools_seconds)
        self._observer.turn_finished(self, outcome, own, first, calls)


class Observer:
    """Metrics off: every hook is a no-op."""

    enabled = False

    def watch_turn(self, provider: str, model: str, org_id: str) -> TurnWatch:
        return NO_WATCH

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

    def webhook_delivered(self, outcome: str) -> None:
        pass

    def lease_waited(self, seconds: float) -> None:
        pass

    def stream_opened(self) -> None:
        pass

    def stream_closed(self) -> None:
        pass


NO_OBSERVER = Observer()
