"""Limits on what a JSON request body may contain, checked before any model sees it.

Bodies nested deeper than `MAX_JSON_DEPTH` levels, strings (values or keys) holding NUL characters,
which PostgreSQL cannot store, and values bound for HTTP headers that a header cannot carry (a key with a
control character, a header name with a space) are refused with a 400 naming the field, the same on every
database.
"""

from __future__ import annotations

from typing import Any, Final

from chatloom.domain.errors import InvalidRequest
from chatloom.domain.secrets import header_problem

MAX_JSON_DEPTH: Final = 64
_SHOWN_PARTS: Final = 6
_HEADER_HINTS: Final = (b'"headers"', b'"headerName"', b"\\u00", b"\\n", b"\\r", b"\\b", b"\\f", b"\x7f")
"""What the raw body of a request that could hold a header-bound value that is not sendable shows: a
`headers` object or `headerName`, or an escaped control character (JSON escapes every one but DEL)."""


def _path(parts: tuple[str | int, ...]) -> str:
    text = ""
    for part in parts[:_SHOWN_PARTS]:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text + ("…" if len(parts) > _SHOWN_PARTS else "")


def _refuse(parts: tuple[str | int, ...], problem: str) -> InvalidRequest:
    field = _path(parts)
    return InvalidRequest(f"{field}: {problem}" if field else problem, field=field or None)


def check_json_body(raw: bytes, value: Any) -> None:
    """Refuses a body `check_nesting` or `check_header_values` refuses."""
    check_nesting(raw, value)
    check_header_values(raw, value)


def check_header_values(raw: bytes, value: Any) -> None:
    """Refuses a body with a value that is sent as an HTTP header (a key, a token, a header) and could not
    be: stored, it would make every later request that sends it fail."""
    if not any(hint in raw for hint in _HEADER_HINTS):
        return
    found = header_problem(value)
    if found is not None:
        field, problem = found
        raise InvalidRequest(f"{field}: {problem}", field=field)


def check_nesting(raw: bytes, value: Any) -> None:
    """Refuses a parsed body that nests deeper than `MAX_JSON_DEPTH` or contains a NUL character.

    Most bodies are shallow and NUL-free, which the raw bytes show without walking the value: the depth
    is at most the number of brackets, and a NUL inside a JSON string is always written `\\u0000`.
    """
    if b"\\u0000" not in raw and raw.count(b"{") + raw.count(b"[") <= MAX_JSON_DEPTH:
        return
    stack: list[tuple[Any, int, tuple[str | int, ...]]] = [(value, 1, ())]
    while stack:
        item, depth, parts = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise _refuse(parts, "must not contain NUL characters")
        elif isinstance(item, dict):
            if depth > MAX_JSON_DEPTH:
                raise _refuse(parts, f"is nested deeper than {MAX_JSON_DEPTH} levels")
            for key, child in item.items():
                if "\x00" in key:
                    raise _refuse(parts, "a key must not contain NUL characters")
                stack.append((child, depth + 1, (*parts, key)))
        elif isinstance(item, list):
            if depth > MAX_JSON_DEPTH:
                raise _refuse(parts, f"is nested deeper than {MAX_JSON_DEPTH} levels")
            stack.extend((child, depth + 1, (*parts, index)) for index, child in enumerate(item))
