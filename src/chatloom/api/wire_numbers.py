"""Whole numbers read from headers and query strings, strictly: ASCII digits only (`int()` also takes
`٣`, `²` is a digit to `str.isdigit()`), a bounded length, and a range; anything else is a 400 naming the
field."""

from __future__ import annotations

import re

from chatloom.domain.errors import InvalidRequest

_DIGITS = re.compile(r"-?[0-9]{1,18}")


def parse_int(text: str, field: str, low: int, high: int) -> int:
    """`text` (surrounding spaces allowed) as an integer in `low..high`."""
    stripped = text.strip()
    if not _DIGITS.fullmatch(stripped):
        raise InvalidRequest(f"{field}: must be a whole number (ASCII digits)", field=field)
    value = int(stripped)
    if not low <= value <= high:
        raise InvalidRequest(f"{field}: must be between {low} and {high}", field=field)
    return value
