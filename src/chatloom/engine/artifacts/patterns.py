"""Regex structured outputs: a pattern run over the transcript with RE2.

RE2 matches in time linear in the text and never backtracks, so no pattern can take the server's time
(`(a+)+$` over a long transcript answers as fast as `a`); constructs that need backtracking (back
references, look-around) are refused when the output is saved. A pattern is either raw (`\\d+`) or a
regex literal (`/\\d+/gi`: flags `i` ignore case, `m` multi-line, `s` dot matches newline; `g` is implied,
as every match is looked at).

What a match gives depends on the schema's type: boolean, whether it matches; string, the first match (or
its first group); number and integer, the first match parsed; array, every match (or first groups).
"""

from __future__ import annotations

import functools
import re
from typing import Any

import re2

MAX_PATTERN_MEMORY = 8 << 20
"""Bytes RE2 may use for one compiled pattern; a pattern needing more is refused."""
MAX_MATCHES = 1000
LITERAL = re.compile(r"^/(.*)/([a-z]*)$", re.DOTALL)
FLAGS = {"i": "i", "m": "m", "s": "s"}


class PatternError(ValueError):
    """The pattern is not one RE2 can run (it names why)."""


@functools.lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> Any:
    """The compiled pattern (raw or a `/.../flags` literal); `PatternError` if RE2 cannot run it."""
    literal = LITERAL.match(pattern)
    flags = ""
    if literal is not None:
        pattern, letters = literal.group(1), literal.group(2)
        unknown = sorted(set(letters) - set(FLAGS) - {"g", "u"})
        if unknown:
            raise PatternError(f"regex flag(s) {''.join(unknown)} are not supported (i, m, s, g)")
        flags = "".join(sorted({FLAGS[letter] for letter in letters if letter in FLAGS}))
    options = re2.Options()
    options.log_errors = False
    options.max_mem = MAX_PATTERN_MEMORY
    try:
        return re2.compile(f"(?{flags}){pattern}" if flags else pattern, options=options)
    except re2.error as error:
        detail = error.args[0].decode() if error.args and isinstance(error.args[0], bytes) else str(error)
        raise PatternError(f"regex is not valid RE2 syntax: {detail}") from None


def _value(match: Any) -> str:
    return str(match.group(1) if match.re.groups >= 1 and match.group(1) is not None else match.group(0))


def _number(text: str, integer: bool) -> int | float | None:
    try:
        return int(text) if integer else float(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            return None
        return int(number) if integer and number.is_integer() else (None if integer else number)


def run_pattern(pattern: str, schema: dict[str, Any], transcript: str) -> Any:
    """The output's value over `transcript`, shaped by the schema's top-level type (see the module)."""
    compiled = compile_pattern(pattern)
    kind = schema.get("type")
    if kind == "boolean":
        return compiled.search(transcript) is not None
    if kind == "array":
        values = []
        for match in compiled.finditer(transcript):
            values.append(_value(match))
            if len(values) >= MAX_MATCHES:
                break
        return values
    match = compiled.search(transcript)
    if match is None:
        return None
    text = _value(match)
    if kind in ("number", "integer"):
        return _number(text.strip(), kind == "integer")
    return text
