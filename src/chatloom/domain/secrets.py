"""Which fields of a Vapi document hold secrets or go into HTTP headers: the document as another server may
see it (every secret removed, at any depth), and the first value a header could not carry.

The rules know field names, never paths: a `server.secret`, a credential's `apiKey` or
`authenticationPlan.token`, a custom LLM's `model.headers` are found wherever they sit (an assistant inline
in a chat, a knowledge base's server, a tool of a squad member). Transcripts (`messages`, `output`,
`input`) hold what people and models wrote, not configuration: they are passed over.
"""

from __future__ import annotations

import re
from typing import Any

SECRET_FIELDS = frozenset(
    (
        "apiKey",
        "token",
        "secret",
        "secretKey",
        "clientSecret",
        "password",
        "privateKey",
        "secretAccessKey",
        "authToken",
    )
)
"""Field names whose values are secrets, at any depth of a document."""
SEALED_FIELD = "$sealed"
"""Where a stored credential keeps its encrypted secrets."""
HEADERS_FIELD = "headers"
"""HTTP headers sent to a server or model: their values may carry keys."""
REMOVED_FIELDS = SECRET_FIELDS | {SEALED_FIELD, HEADERS_FIELD}
"""What `without_secrets` removes."""
TRANSCRIPT_FIELDS = frozenset(("messages", "output", "input"))
FREE_TEXT_FIELDS = frozenset((*TRANSCRIPT_FIELDS, "variableValues", "metadata"))
"""Values a client writes freely (newlines and all), never sent as headers."""
MAX_DEPTH = 64

_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FORBIDDEN_IN_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def without_secrets(value: Any, depth: int = 0) -> Any:
    """A copy of `value` without any secret field, sealed secrets or headers (transcripts are shared)."""
    if depth > MAX_DEPTH:
        return None
    if isinstance(value, dict):
        copy: dict[str, Any] = {}
        for name, item in value.items():
            if name in REMOVED_FIELDS:
                continue
            copy[name] = item if name in TRANSCRIPT_FIELDS else without_secrets(item, depth + 1)
        return copy
    if isinstance(value, list):
        return [without_secrets(item, depth + 1) for item in value]
    return value


def header_name_problem(name: str) -> str | None:
    if not _HEADER_NAME.fullmatch(name):
        return "is not a valid HTTP header name (letters, digits and !#$%&'*+-.^_`|~ only)"
    return None


def header_value_problem(value: str) -> str | None:
    if _FORBIDDEN_IN_VALUE.search(value):
        return "holds a control character (a line break, NUL, ...), which an HTTP header cannot carry"
    return None


def header_problem(document: Any, path: str = "", depth: int = 0) -> tuple[str, str] | None:
    """The first value of `document` that is sent as (part of) an HTTP header and could not be: a secret
    field or header value with a control character, or a header name that is not a token. Returns the
    field's path and what is wrong with it."""
    if depth > MAX_DEPTH:
        return None
    if isinstance(document, list):
        for index, item in enumerate(document):
            found = header_problem(item, f"{path}[{index}]", depth + 1)
            if found is not None:
                return found
        return None
    if not isinstance(document, dict):
        return None
    for name, value in document.items():
        where = f"{path}.{name}" if path else str(name)
        if name in FREE_TEXT_FIELDS:
            continue
        if isinstance(value, str):
            if name in SECRET_FIELDS and (problem := header_value_problem(value)):
                return where, problem
            if name == "headerName" and (problem := header_name_problem(value)):
                return where, problem
        elif name == HEADERS_FIELD and isinstance(value, dict):
            found = _headers_problem(value, where)
            if found is not None:
                return found
        else:
            found = header_problem(value, where, depth + 1)
            if found is not None:
                return found
    return None


def _headers_problem(headers: dict[str, Any], path: str) -> tuple[str, str] | None:
    """`{name: value}`, or an apiRequest tool's JSON schema (`properties.<name>.value`)."""
    properties = headers.get("properties")
    schema = isinstance(properties, dict) and "type" in headers
    values = properties if schema and isinstance(properties, dict) else headers
    for name, value in values.items():
        where = f"{path}.properties.{name}" if schema else f"{path}.{name}"
        if problem := header_name_problem(str(name)):
            return where, problem
        if schema:
            value, where = (value.get("value") if isinstance(value, dict) else None), f"{where}.value"
        if isinstance(value, str) and (problem := header_value_problem(value)):
            return where, problem
    return None
