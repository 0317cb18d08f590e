"""Prompt templates: Vapi's default variables, LiquidJS-compatible rendering and the date filter."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from chatloom.domain.errors import InvalidRequest
from chatloom.templates.liquid import (
    default_variables,
    render_prompt,
    render_prompt_async,
    template_cache_info,
)

NOW = datetime(2026, 11, 26, 10, 5, tzinfo=UTC)


def variables(**values: object) -> dict[str, object]:
    return {**default_variables(NOW, {"name": "Ada", "number": "+15550100"}), **values}


def test_default_variables_match_vapi() -> None:
    assert default_variables(NOW) == {
        "now": "Nov 26, 2026 10:05 AM UTC",
        "date": "Nov 26, 2026",
        "time": "10:05 AM",
        "month": "November",
        "day": "26",
        "year": "2026",
        "customer": {},
        "transport": {"conversationType": "chat"},
    }


def test_default_variables_are_in_utc() -> None:
    evening_in_new_york = datetime(2026, 3, 4, 21, 7, tzinfo=ZoneInfo("America/New_York"))
    values = default_variables(evening_in_new_york, {"name": "Ada"})
    assert values["now"] == "Mar 5, 2026 2:07 AM UTC"
    assert (values["day"], values["month"], values["time"]) == ("5", "March", "2:07 AM")
    assert values["customer"] == {"name": "Ada"}


def test_variables_and_nested_customer_fields_render() -> None:
    template = "Hello {{ name }}, you are {{ customer.name }} ({{ customer.number }}) on {{ date }}."
    rendered = render_prompt(template, variables(name="Bob"))
    assert rendered == "Hello Bob, you are Ada (+15550100) on Nov 26, 2026."


def test_user_values_override_defaults_when_merged_by_the_caller() -> None:
    assert render_prompt("{{ date }} via {{ transport.conversationType }}", variables(date="tomorrow")) == (
        "tomorrow via chat"
    )


def test_undefined_variables_render_empty() -> None:
    assert render_prompt("[{{ missing }}][{{ customer.missing.deeper }}]", variables()) == "[][]"


def test_liquid_tags_work() -> None:
    template = (
        "{% if customer.name %}Hi {{ customer.name | upcase }}{% else %}Hi{% endif %}"
        "{% for i in (1..3) %}{{ i }}{% endfor %}"
    )
    assert render_prompt(template, variables()) == "Hi ADA123"


def test_text_without_liquid_passes_through_untouched() -> None:
    before = template_cache_info()
    text = 'Reply in JSON like {"ok": true}. Never say "}}".'
    assert render_prompt(text, variables()) is text
    assert template_cache_info() == before


def test_compiled_templates_are_cached_by_source() -> None:
    template = "Cache check {{ name }} " + "x" * 10
    render_prompt(template, variables(name="one"))
    before = template_cache_info()
    assert render_prompt(template, variables(name="two")) == "Cache check two xxxxxxxxxx"
    after = template_cache_info()
    assert after.hits == before.hits + 1
    assert after.misses == before.misses
    assert after.maxsize == 512


def test_date_filter_formats_now_in_a_timezone() -> None:
    rendered = render_prompt('{{ "now" | date: "%Y-%m-%d %H:%M %Z", "America/New_York" }}', variables())
    expected = datetime.now(ZoneInfo("America/New_York"))
    stamp = datetime.strptime(rendered.removesuffix(" America/New_York"), "%Y-%m-%d %H:%M")
    assert abs(stamp.replace(tzinfo=ZoneInfo("America/New_York")) - expected) < timedelta(minutes=2)
    assert rendered.endswith(" America/New_York")


def test_date_filter_now_and_today_default_to_utc() -> None:
    before = datetime.now(UTC).strftime("%Y-%m-%d")
    rendered = render_prompt('{{ "now" | date: "%Y-%m-%d" }}|{{ "today" | date: "%Y-%m-%d" }}', {})
    after = datetime.now(UTC).strftime("%Y-%m-%d")
    assert rendered in {f"{before}|{before}", f"{before}|{after}", f"{after}|{after}"}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        # LiquidJS's documented examples
        (
            '{{ "1990-12-31T23:30:28Z" | date: "%d%q of %b %Y at %I:%M %P %Z", -330 }}',
            "01st of Jan 1991 at 05:00 am +0530",
        ),
        ('{{ "1990-12-31T23:00:00Z" | date: "%Y-%m-%dT%H:%M:%S", 360 }}', "1990-12-31T17:00:00"),
        ('{{ "1990-12-31T23:00:00Z" | date: "%Y-%m-%dT%H:%M:%S", "Asia/Colombo" }}', "1991-01-01T04:30:00"),
        ('{{ "2023/02/02" | date: "%d%q of %b" }}', "02nd of Feb"),
        # unix timestamps, as numbers or digit strings
        ('{{ 1700000000 | date: "%Y-%m-%d %H:%M:%S" }}', "2023-11-14 22:13:20"),
        ('{{ "1700000000" | date: "%s" }}', "1700000000"),
        # ISO strings with an offset are shown in UTC unless a zone is given
        ('{{ "2026-11-26T10:05:00+05:00" | date: "%H:%M %z" }}', "05:05 +0000"),
        ('{{ "2026-11-26T10:05:00+05:00" | date: "%H:%M %:z", "+05:30" }}', "10:35 +05:30"),
        ('{{ "2026-07-01" | date: "%b %-d %H:%M %Z", "Europe/Paris" }}', "Jul 1 02:00 Europe/Paris"),
        # Vapi's own default variables parse back
        ('{{ now | date: "%A %-d %B %Y, %-l:%M %p" }}', "Thursday 26 November 2026, 10:05 AM"),
        ('{{ date | date: "%Y-%m-%d" }}', "2026-11-26"),
        # LiquidJS strftime flags and its default format
        (
            '{{ "2026-03-04T05:06:07Z" | date: "%e|%-e|%_m|%k|%l|%^a|%#B|%j|%u|%w|%y|%C|%%|%Q" }}',
            " 4|4| 3| 5| 5|WED|MARCH|063|3|3|26|20|%|%Q",
        ),
        ('{{ "2026-03-04T05:06:07Z" | date: "%c" }}', "3/4/2026, 5:06:07 AM"),
        ('{{ "2026-03-04T17:06:07Z" | date }}', "Wednesday, March 4, 2026 at 5:06 pm +0000"),
        ('{{ "2026-11-11" | date: "%-d%q" }} {{ "2026-11-22" | date: "%-d%q" }}', "11th 22nd"),
        # what LiquidJS cannot read comes back unchanged; nil renders empty
        ('{{ "not a date" | date: "%Y" }}', "not a date"),
        ('[{{ missing | date: "%Y" }}]', "[]"),
    ],
)  # fmt: skip
def test_date_filter_behaves_like_liquidjs(template: str, expected: str) -> None:
    assert render_prompt(template, variables()) == expected


def test_date_filter_accepts_datetimes_from_variables() -> None:
    moment = datetime(2026, 1, 2, 3, 4, tzinfo=timezone(timedelta(hours=-5)))
    assert render_prompt('{{ t | date: "%Y-%m-%d %H:%M", "UTC" }}', {"t": moment}) == "2026-01-02 08:04"


def test_unknown_timezone_is_an_invalid_request() -> None:
    with pytest.raises(InvalidRequest) as caught:
        render_prompt('{{ "now" | date: "%Y", "Mars/Olympus_Mons" }}', variables())
    assert caught.value.field == "assistant.model.messages"
    assert "assistant.model.messages" in str(caught.value.message)
    assert "Mars/Olympus_Mons" in str(caught.value.message)


@pytest.mark.parametrize("template", ["Hello {{ name ", "{% if name %}unclosed", "{% nosuchtag %}"])
def test_syntax_errors_are_invalid_requests(template: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        render_prompt(template, variables())
    assert caught.value.field == "assistant.model.messages"
    message = str(caught.value.message)
    assert message.startswith("assistant.model.messages: a Liquid template is not valid Liquid: ")


def test_render_errors_are_invalid_requests() -> None:
    with pytest.raises(InvalidRequest, match=r"assistant\.model\.messages.*divided_by"):
        render_prompt("{{ 10 | divided_by: 0 }}", variables())


def test_runaway_loops_are_refused() -> None:
    with pytest.raises(InvalidRequest, match="loops more than 100000 times"):
        render_prompt("{% for i in (1..10000000) %}x{% endfor %}", variables())


BOMB = (
    '{% assign s = "xxxxxxxxxx" %}{% for i in (1..40) %}{% assign s = s | append: s %}{% endfor %}'
    "{{ s | size }}"
)


def test_strings_built_with_assign_are_bounded() -> None:
    started = time.perf_counter()
    with pytest.raises(InvalidRequest, match="variables grow past 1000000 bytes") as caught:
        render_prompt(BOMB, variables(), "assistant.model.messages[2].content")
    assert caught.value.field == "assistant.model.messages[2].content"
    assert time.perf_counter() - started < 0.5


def test_a_render_is_bounded_in_time() -> None:
    slow = '{% for i in (1..100000) %}{{ "ab" | append: "cd" | replace: "a", "zz" | upcase }}{% endfor %}'
    started = time.perf_counter()
    with pytest.raises(InvalidRequest, match=r"takes longer than 50 ms \(CHATLOOM_TEMPLATE_MAX_MS\)"):
        render_prompt(slow, variables())
    assert time.perf_counter() - started < 0.2


def test_output_is_bounded() -> None:
    with pytest.raises(InvalidRequest, match="output grows past 1000000 bytes"):
        render_prompt("{% for i in (1..1000) %}{{ big }}{% endfor %}", variables(big="y" * 5000))


def test_unknown_filters_are_skipped_as_in_liquidjs() -> None:
    assert render_prompt("{{ name | no_such_filter }}!", variables(name="Bob")) == "Bob!"


def test_a_slow_render_leaves_the_event_loop_free() -> None:
    slow = '{% for i in (1..100000) %}{{ "ab" | append: "cd" | replace: "a", "zz" | upcase }}{% endfor %}'
    ticks = 0

    async def tick(stop: asyncio.Event) -> None:
        nonlocal ticks
        while not stop.is_set():
            await asyncio.sleep(0.001)
            ticks += 1

    async def scenario() -> None:
        stop = asyncio.Event()
        ticker = asyncio.create_task(tick(stop))
        await asyncio.sleep(0.005)
        before = ticks
        with pytest.raises(InvalidRequest, match="takes longer than 50 ms"):
            await render_prompt_async(slow, variables())
        assert ticks - before >= 3, "the event loop kept running while the template rendered"
        assert await render_prompt_async("Hi {{ name }}", variables(name="Ada")) == "Hi Ada"
        stop.set()
        await ticker

    asyncio.run(scenario())
