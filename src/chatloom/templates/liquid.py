"""Liquid rendering of assistant prompts with `variableValues`, as Vapi does with LiquidJS.

Templates are compiled once per source text; undefined variables render empty; `date` follows LiquidJS
(in UTC unless given a zone). A template that cannot be parsed or rendered is an `InvalidRequest`.
Rendering is bounded: loop iterations, the bytes held by variables a template assigns, the output's size,
and the time one render may take (checked at every variable lookup, filter and assignment).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from liquid import BoundTemplate, Environment, RenderContext
from liquid.exceptions import (
    LiquidError,
    LocalNamespaceLimitError,
    LoopIterationLimitError,
    OutputStreamLimitError,
    ResourceLimitError,
)
from liquid.undefined import UNDEFINED

from chatloom.domain.errors import InvalidRequest
from chatloom.templates.dates import MONTHS, date_filter

FIELD: Final = "assistant.model.messages"
TEMPLATE_CACHE_SIZE: Final = 512


DEFAULT_MAX_MS: Final = 50.0
DEFAULT_MAX_BYTES: Final = 1_000_000


INLINE_RENDER_SECONDS: Final = 0.002
"""How long a render may run on the event loop; a slower one starts over in a worker thread."""
_BUDGET: Final = contextvars.ContextVar[float]("template_render_budget")


class RenderTimeLimitError(ResourceLimitError):
    """A render ran past its time limit."""


class _InlineBudgetSpent(ResourceLimitError):
    """A render on the event loop ran past `INLINE_RENDER_SECONDS`: it continues in a thread."""


class _BoundedContext(RenderContext):
    """A render context that refuses to go on past a deadline shared by the whole render (nested
    contexts of `render`/`include` inherit their parent's)."""

    __slots__ = ("deadline",)

    def __init__(self, template: BoundTemplate, **kwargs: Any) -> None:
        super().__init__(template, **kwargs)
        parent = kwargs.get("parent_context")
        self.deadline: float = (
            parent.deadline
            if isinstance(parent, _BoundedContext)
            else time.perf_counter() + _BUDGET.get(_LIMITS.max_seconds)
        )

    def _check_time(self) -> None:
        if time.perf_counter() > self.deadline:
            if _BUDGET.get(_LIMITS.max_seconds) < _LIMITS.max_seconds:
                raise _InlineBudgetSpent("", token=None)
            limit = f"{_LIMITS.max_seconds * 1000:g} ms"
            message = f"rendering takes longer than {limit} (CHATLOOM_TEMPLATE_MAX_MS)"
            raise RenderTimeLimitError(message, token=None)

    def get(self, path: list[object], *, token: Any, default: object = UNDEFINED) -> object:
        self._check_time()
        return super().get(path, token=token, default=default)

    def filter(self, name: str, token: Any) -> Callable[..., object]:
        self._check_time()
        return super().filter(name, token=token)

    def assign(self, key: str, val: Any) -> None:
        self._check_time()
        super().assign(key, val)


class _BoundedTemplate(BoundTemplate):
    context_class = _BoundedContext


class _PromptEnvironment(Environment):
    # Prompts come from API callers: bound the work, memory and output one template may cause.
    loop_iteration_limit = 100_000
    output_stream_limit = int(DEFAULT_MAX_BYTES)
    local_namespace_limit = int(DEFAULT_MAX_BYTES)
    template_class = _BoundedTemplate


class _Limits:
    max_seconds: float = DEFAULT_MAX_MS / 1000


_LIMITS: Final = _Limits()


def set_template_limits(max_ms: float, max_bytes: int) -> None:
    """Process-wide limits for one render: its time, and the bytes of its assigned variables and output."""
    _LIMITS.max_seconds = max_ms / 1000
    _PromptEnvironment.output_stream_limit = max_bytes
    _PromptEnvironment.local_namespace_limit = max_bytes


def default_variables(now: datetime, customer: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Vapi's default variables at `now` (UTC): now, date, time, month, day, year, customer, transport."""
    utc = now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)
    day = f"{MONTHS[utc.month - 1][:3]} {utc.day}, {utc.year}"
    time = f"{utc.hour % 12 or 12}:{utc.minute:02d} {'AM' if utc.hour < 12 else 'PM'}"
    return {
        "now": f"{day} {time} UTC",
        "date": day,
        "time": time,
        "month": MONTHS[utc.month - 1],
        "day": str(utc.day),
        "year": str(utc.year),
        "customer": dict(customer) if isinstance(customer, Mapping) else {},
        "transport": {"conversationType": "chat"},
    }


def has_markup(template: str) -> bool:
    # A one-character search is a memchr; two-character ones cost microseconds on long prompts.
    return "{" in template and ("{{" in template or "{%" in template)


def render_prompt(template: str, variables: Mapping[str, Any], field: str = FIELD) -> str:
    """`template` rendered with `variables`; text without Liquid markup is returned as is. `field` names
    the template in error messages. Blocks for up to the time limit: prefer `render_prompt_async`."""
    if not has_markup(template):
        return template
    return _render(_compile(template, field), variables, field)


async def render_prompt_async(template: str, variables: Mapping[str, Any], field: str = FIELD) -> str:
    """`render_prompt` that holds the event loop for at most `INLINE_RENDER_SECONDS`: a slower template is
    rendered again in a worker thread, within the whole time limit, while the server goes on serving."""
    if not has_markup(template):
        return template
    compiled = _compile(template, field)
    if _LIMITS.max_seconds <= INLINE_RENDER_SECONDS:
        return _render(compiled, variables, field)
    token = _BUDGET.set(INLINE_RENDER_SECONDS)
    try:
        return _render(compiled, variables, field)
    except _InlineBudgetSpent:
        pass
    finally:
        _BUDGET.reset(token)
    return await asyncio.to_thread(_render, compiled, variables, field)


def _render(compiled: BoundTemplate, variables: Mapping[str, Any], field: str) -> str:
    try:
        return compiled.render(variables)
    except _InlineBudgetSpent:
        raise
    except LiquidError as err:
        raise _invalid("cannot be rendered", err, field) from err
    except MemoryError as err:
        raise InvalidRequest(f"{field}: a Liquid template needs too much memory", field=field) from err
    except (ArithmeticError, LookupError, TypeError, ValueError, RecursionError) as err:
        reason = type(err).__name__
        message = f"{field}: a Liquid template cannot be rendered ({reason})"
        raise InvalidRequest(message, field=field) from err


async def check_template_limits(template: str, variables: Mapping[str, Any], field: str) -> None:
    """Refuses (400 naming `field`) a template that cannot be parsed or that exceeds a resource limit when
    rendered with `variables`; other render failures depend on values only known at chat time."""
    try:
        await render_prompt_async(template, variables, field)
    except InvalidRequest as refused:
        if isinstance(refused.__cause__, ResourceLimitError | MemoryError) or "not valid Liquid" in str(
            refused.message
        ):
            raise


def template_cache_info() -> functools._CacheInfo:
    """Hits, misses and size of the compiled-template cache."""
    return _compiled.cache_info()


def _compile(template: str, field: str) -> BoundTemplate:
    try:
        return _compiled(template)
    except LiquidError as err:
        raise _invalid("is not valid Liquid", err, field) from err
    except RecursionError as err:
        raise InvalidRequest(f"{field}: a Liquid template is nested too deeply", field=field) from err


@functools.lru_cache(maxsize=TEMPLATE_CACHE_SIZE)
def _compiled(template: str) -> BoundTemplate:
    return _ENVIRONMENT.from_string(template)


def _reason(err: LiquidError) -> str:
    """What went wrong, in this server's terms for its resource limits."""
    setting = "bytes (CHATLOOM_TEMPLATE_MAX_BYTES)"
    if isinstance(err, LocalNamespaceLimitError):
        return f"its variables grow past {_PromptEnvironment.local_namespace_limit} {setting}"
    if isinstance(err, OutputStreamLimitError):
        return f"its output grows past {_PromptEnvironment.output_stream_limit} {setting}"
    if isinstance(err, LoopIterationLimitError):
        return f"it loops more than {_PromptEnvironment.loop_iteration_limit} times"
    return str(err.message)


def _invalid(problem: str, err: LiquidError, field: str) -> InvalidRequest:
    where = err.context()
    at = f" (line {where[0]}, column {where[1] + 1})" if where else ""
    return InvalidRequest(f"{field}: a Liquid template {problem}: {_reason(err)}{at}", field=field)


# LiquidJS skips unknown filters by default instead of failing the whole prompt.
_ENVIRONMENT: Final = _PromptEnvironment(strict_filters=False)
_ENVIRONMENT.add_filter("date", date_filter)
