"""LiquidJS's `date` filter for prompt templates: `{{ "now" | date: "%Y-%m-%d", "Europe/Paris" }}`, with
LiquidJS's strftime directives and padding flags, in UTC unless given a zone; and the month and day names
the default template variables use."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from liquid import is_undefined
from liquid.exceptions import FilterArgumentError

MONTHS: Final = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
DAYS: Final = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
MONTH_NUMBERS: Final = {name.lower()[:3]: number for number, name in enumerate(MONTHS, start=1)}

_DEFAULT_DATE_FORMAT: Final = "%A, %B %-e, %Y at %-l:%M %P %z"
_DIRECTIVE: Final = re.compile(r"%([-_0^#:]+)?(\d+)?([EO])?(.)")
_PAD_WIDTHS: Final = {
    "d": 2, "e": 2, "H": 2, "I": 2, "j": 3, "k": 2, "l": 2, "L": 3, "m": 2, "M": 2, "S": 2, "U": 2, "W": 2,
}  # fmt: skip
_SPACE_PADDED: Final = frozenset("aAbBceklpP")
_MAX_PAD: Final = 64
_OFFSET: Final = re.compile(r"([+-])(\d{2}):?(\d{2})")
_SLASHED: Final = re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?")
_ENGLISH: Final = re.compile(
    r"(?:[a-z]+,? )?([a-z]{3})[a-z]* (\d{1,2}),? (\d{4})"
    r"(?:,? (\d{1,2}):(\d{2})(?::(\d{2}))? ?([ap]m)?)?(?: (?:utc|gmt|z))?",
    re.IGNORECASE,
)


def date_filter(value: object, fmt: object = None, zone: object = None) -> object:
    """LiquidJS `date`: `{{ "now" | date: "%Y-%m-%d %H:%M", "America/New_York" }}`."""
    if value is None or is_undefined(value):
        return ""
    target, zone_name = _zone(zone)
    moment = _to_datetime(value)
    if moment is None:
        return value
    pattern = _DEFAULT_DATE_FORMAT if fmt is None or is_undefined(fmt) else str(fmt)
    return _strftime(moment.astimezone(target), pattern, zone_name)


def _zone(zone: object) -> tuple[tzinfo, str | None]:
    """The output zone and its name for %Z: an IANA name, "+05:30", or LiquidJS minutes (-330 = +05:30)."""
    if zone is None or is_undefined(zone):
        return UTC, "UTC"
    if isinstance(zone, int | float) and not isinstance(zone, bool) and math.isfinite(zone):
        if abs(zone) < 24 * 60:
            return timezone(timedelta(minutes=-zone)), None
    elif isinstance(zone, str):
        if offset := _OFFSET.fullmatch(zone):
            sign = -1 if offset[1] == "-" else 1
            minutes = int(offset[2]) * 60 + int(offset[3])
            if minutes < 24 * 60:
                return timezone(sign * timedelta(minutes=minutes)), zone
        else:
            try:
                return ZoneInfo(zone), zone
            except (ZoneInfoNotFoundError, ValueError):
                pass
    raise FilterArgumentError(f"date: unknown time zone {zone!r}", token=None)


def _to_datetime(value: object) -> datetime | None:
    """An aware datetime from what LiquidJS accepts; naive input is taken as UTC, as on Vapi."""
    moment: datetime | None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        moment = _from_timestamp(value)
    elif isinstance(value, str):
        moment = _parse(value.strip())
    else:
        return None
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _from_timestamp(seconds: float) -> datetime | None:
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _parse(text: str) -> datetime | None:
    if text in ("now", "today"):
        return datetime.now(UTC)
    if text.isascii() and text.isdigit():
        return _from_timestamp(int(text)) if len(text) < 16 else None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    try:
        if slashed := _SLASHED.fullmatch(text):
            year, month, day, hour, minute, second = (int(part or 0) for part in slashed.groups())
            return datetime(year, month, day, hour, minute, second)
        if english := _ENGLISH.fullmatch(text):
            return _from_english(english)
        return parsedate_to_datetime(text)
    except (ValueError, TypeError, IndexError):
        return None


def _from_english(match: re.Match[str]) -> datetime | None:
    """English dates such as Vapi's defaults: "Nov 26, 2026 10:05 AM UTC", "Thursday, November 26, 2026"."""
    month = MONTH_NUMBERS.get(match[1].lower())
    if month is None:
        return None
    hour, minute, second = int(match[4] or 0), int(match[5] or 0), int(match[6] or 0)
    if match[7]:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if match[7].lower() == "pm" else 0)
    return datetime(int(match[3]), month, int(match[2]), hour, minute, second)


def _strftime(moment: datetime, pattern: str, zone_name: str | None) -> str:
    """LiquidJS's strftime: flags - _ 0 ^ # :, a width, and its conversions (including %q ordinals)."""

    def convert(directive: re.Match[str]) -> str:
        flags, width, _, code = directive.groups()
        flags = flags or ""
        text = _conversion(moment, code, flags, width, zone_name)
        if text is None:
            return directive[0]
        pad_char = " " if code in _SPACE_PADDED else "0"
        pad_width = min(int(width), _MAX_PAD) if width else _PAD_WIDTHS.get(code, 0)
        if "^" in flags:
            text = text.upper()
        elif "#" in flags:
            text = text.upper() if any("a" <= char <= "z" for char in text) else text.lower()
        if "_" in flags:
            pad_char = " "
        elif "0" in flags:
            pad_char = "0"
        if "-" in flags:
            pad_width = 0
        return text.rjust(pad_width, pad_char)

    return _DIRECTIVE.sub(convert, pattern)


def _conversion(
    moment: datetime, code: str, flags: str, width: str | None, zone_name: str | None
) -> str | None:
    if convert := _CONVERSIONS.get(code):
        return str(convert(moment))
    if code == "N":
        digits = int(width) if width and 0 < int(width) <= _MAX_PAD else 9
        return str(moment.microsecond // 1000)[:digits].ljust(digits, "0")
    if code == "z" or (code == "Z" and zone_name is None):
        return _utc_offset(moment, colon=":" in flags)
    if code == "Z":
        return zone_name
    return None


def _hour12(moment: datetime) -> str:
    return str(moment.hour % 12 or 12)


def _meridiem(moment: datetime) -> str:
    return "AM" if moment.hour < 12 else "PM"


def _us_date(moment: datetime) -> str:
    return f"{moment.month}/{moment.day}/{moment.year}"


def _us_time(moment: datetime) -> str:
    return f"{_hour12(moment)}:{moment.minute:02d}:{moment.second:02d} {_meridiem(moment)}"


_CONVERSIONS: Final[Mapping[str, Callable[[datetime], object]]] = {
    "a": lambda m: DAYS[m.isoweekday() % 7][:3],
    "A": lambda m: DAYS[m.isoweekday() % 7],
    "b": lambda m: MONTHS[m.month - 1][:3],
    "h": lambda m: MONTHS[m.month - 1][:3],
    "B": lambda m: MONTHS[m.month - 1],
    "c": lambda m: f"{_us_date(m)}, {_us_time(m)}",
    "C": lambda m: m.year // 100,
    "d": lambda m: m.day,
    "e": lambda m: m.day,
    "H": lambda m: m.hour,
    "I": _hour12,
    "j": lambda m: m.timetuple().tm_yday,
    "k": lambda m: m.hour,
    "l": _hour12,
    "L": lambda m: m.microsecond // 1000,
    "m": lambda m: m.month,
    "M": lambda m: m.minute,
    "p": _meridiem,
    "P": lambda m: _meridiem(m).lower(),
    "q": lambda m: _ordinal_suffix(m.day),
    "s": lambda m: round(m.timestamp()),
    "S": lambda m: m.second,
    "u": lambda m: m.isoweekday(),
    "U": lambda m: _week_of_year(m, 0),
    "w": lambda m: m.isoweekday() % 7,
    "W": lambda m: _week_of_year(m, 1),
    "x": _us_date,
    "X": _us_time,
    "y": lambda m: str(m.year)[2:4],
    "Y": lambda m: m.year,
    "t": lambda m: "\t",
    "n": lambda m: "\n",
    "%": lambda m: "%",
}


def _ordinal_suffix(day: int) -> str:
    if 11 <= day % 100 <= 13:
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


def _week_of_year(moment: datetime, first_weekday: int) -> int:
    """Week number as LiquidJS counts it, weeks starting on Sunday (0) or Monday (1)."""
    day_of_year = moment.timetuple().tm_yday + first_weekday - moment.isoweekday() % 7
    first = 7 - date(moment.year, 1, 1).isoweekday() % 7 + first_weekday
    return (day_of_year - first) // 7 + 1


def _utc_offset(moment: datetime, *, colon: bool) -> str:
    offset = moment.utcoffset() or timedelta()
    minutes = int(abs(offset.total_seconds()) // 60)
    sign = "-" if offset < timedelta() else "+"
    return f"{sign}{minutes // 60:02d}{':' if colon else ''}{minutes % 60:02d}"
