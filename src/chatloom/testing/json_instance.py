"""The smallest JSON value valid for a JSON Schema, for the fake LLM's forced tool calls and structured
answers.

Covers what tool parameters and structured outputs use: `const` and `enum` (their first value) before
`type`; objects with their `required` properties only; arrays of `minItems` items; strings of `minLength`
"x"s; numbers at their `minimum`; `anyOf`/`oneOf` by their first branch, `allOf` merged shallowly. A
schema it does not understand gives null.
"""

from __future__ import annotations

from typing import Any


def minimal_instance(schema: Any) -> Any:
    """The minimal instance of `schema` (see the module docstring)."""
    if not isinstance(schema, dict):
        return None
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return minimal_instance(schema[key][0])
    if isinstance(schema.get("allOf"), list):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            if isinstance(part, dict):
                merged.update(part)
        return minimal_instance({**merged, **{k: v for k, v in schema.items() if k != "allOf"}})
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
        return {name: minimal_instance(properties.get(name, {})) for name in required}
    if kind == "array":
        count = schema.get("minItems")
        count = count if isinstance(count, int) else 0
        return [minimal_instance(schema.get("items", {})) for _ in range(count)]
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
