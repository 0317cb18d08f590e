"""`minimal_instance`: the smallest JSON value a schema accepts, checked against the schema itself."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from chatloom.testing.json_instance import minimal_instance

SCHEMAS: list[tuple[dict[str, Any], Any]] = [
    ({"type": "string"}, ""),
    ({"type": "string", "minLength": 3}, "xxx"),
    ({"type": "integer", "minimum": 5}, 5),
    ({"type": "number", "exclusiveMinimum": 1.5}, 2.5),
    ({"type": "boolean"}, False),
    ({"type": "null"}, None),
    ({"type": ["null", "integer"]}, 0),
    ({"enum": ["b", "a"]}, "b"),
    ({"const": 7, "type": "integer"}, 7),
    ({"type": "array", "items": {"type": "integer"}, "minItems": 2}, [0, 0]),
    ({"anyOf": [{"type": "boolean"}, {"type": "string"}]}, False),
    (
        {"allOf": [{"type": "object"}, {"required": ["a"], "properties": {"a": {"type": "string"}}}]},
        {"a": ""},
    ),
    (
        {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer"},
                "where": {"type": "object", "properties": {"lat": {"type": "number"}}, "required": ["lat"]},
            },
            "required": ["city", "unit", "where"],
            "additionalProperties": False,
        },
        {"city": "", "unit": "celsius", "where": {"lat": 0}},
    ),
]


@pytest.mark.parametrize(("schema", "expected"), SCHEMAS)
def test_minimal_instance_is_valid_and_smallest(schema: dict[str, Any], expected: Any) -> None:
    instance = minimal_instance(schema)
    assert instance == expected
    jsonschema.validate(instance, schema)


def test_an_empty_or_odd_schema() -> None:
    assert minimal_instance({}) is None
    assert minimal_instance("not a schema") is None
    assert minimal_instance({"properties": {"a": {"type": "integer"}}, "required": ["a"]}) == {"a": 0}
