"""The smallest JSON value valid for a JSON Schema, for the fake LLM's forced tool calls and structured
answers.

Covers what tool parameters and structured outputs use: `const` and `enum` (their first value) before
`type`; objects with their `required` properties only; arrays of `minItems` items; strings of `minLength`
"x"s; numbers at their `minimum`; `anyOf`/`oneOf` by their first branch, `allOf` merged shallowly. A
schema it does not understand gives null.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

STATEMENT = re.compile(
    r"(?=\b([A-Za-z_][A-Za-z0-9_]*)\s*(?::|=|\bis\b)\s*([^,;:=.\n\"]+(?:\.[A-Za-z0-9]+)*))"
)
"""`key: value` (or `=`, `is`); a lookahead, so statements may overlap (`User: name: Ada` states `name`)."""


def stated_facts(text: str) -> dict[str, str]:
    """`key: value` statements of a text, by lower-cased key (the last one wins)."""
    return {key.lower(): value.strip() for key, value in STATEMENT.findall(text)}


def instance_from_text(schema: Any, text: str) -> Any:
    """An instance of `schema` filled from what `text` states (see the module docstring)."""
    return minimal_instance(schema, stated_facts(text))


def _stated(schema: dict[str, Any], kind: Any, stated: str) -> tuple[bool, Any]:
    """Whether the stated text fits the schema, and its value."""
    if kind == "string":
        low, high = schema.get("minLength", 0), schema.get("maxLength", len(stated))
        enum = schema.get("enum")
        fits = low <= len(stated) <= high and (not isinstance(enum, list) or stated in enum)
        return fits, stated
    if kind in ("integer", "number"):
        try:
            value: Any = int(stated) if kind == "integer" else float(stated)
        except ValueError:
            return False, None
        minimum, maximum = schema.get("minimum"), schema.get("maximum")
        fits = (minimum is None or value >= minimum) and (maximum is None or value <= maximum)
        return fits, value
    if kind == "boolean" and stated.lower() in ("yes", "true", "no", "false"):
        return True, stated.lower() in ("yes", "true")
    return False, None


def minimal_instance(schema: Any, facts: Mapping[str, str] | None = None) -> Any:
    """The minimal instance of `schema` (see the module docstring), with `facts` (by lower-cased property
    name) filling the properties they fit."""
    if not isinstance(schema, dict):
        return None
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return minimal_instance(schema[key][0], facts)
    if isinstance(schema.get("allOf"), list):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            if isinstance(part, dict):
                merged.update(part)
        return minimal_instance({**merged, **{k: v for k, v in schema.items() if k != "allOf"}}, facts)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
    if kind is None and "properties" in schema:
        kind = "object"
    if kind == "object":
        properties = schema.get("properties")
        properties = properties if isinstance(properties, dict) else {}
        required = schema.get("required")
        required = required if isinstance(required, list) else []
        instance = {name: minimal_instance(properties.get(name, {}), facts) for name in required}
        for name, subschema in properties.items() if facts else ():
            stated = facts.get(name.lower()) if facts else None
            if stated is None or not isinstance(subschema, dict):
                continue
            sub_kind = subschema.get("type")
            if isinstance(sub_kind, list):
                sub_kind = next((k for k in sub_kind if k != "null"), None)
            fits, value = _stated(subschema, sub_kind, stated)
            if fits:
                instance[name] = value
        return instance
    if kind == "array":
        count = schema.get("minItems")
        count = count if isinstance(count, int) else 0
        return [minimal_instance(schema.get("items", {}), facts) for _ in range(count)]
    if kind == "string":
        length = schema.get("minLength")
        length = length if isinstance(length, int) else 0
        return "x" * length
    if kind in ("integer", "number"):
        minimum = schema.get("minimum", schema.get("exclusiveMinimum"))
        if isinstance(minimum, (int, float)) and not isinstance(minimum, bool):
            value = minimum + 1 if "exclusiveMinimum" in schema and "minimum" not in schema else minimum
            return int(value) if kind == "integer" else value
        return 0
    if kind == "boolean":
        return False
    return None
