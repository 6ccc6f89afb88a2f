"""Field errors as the model reads them, and `JsonSchemaValidator` for hand-written schemas."""

from __future__ import annotations

from typing import Any

import pytest

from agentkit._errors import UsageError
from agentkit._tools.validation import FieldError, JsonSchemaValidator, format_field_errors


def test_format_field_errors() -> None:
    text = format_field_errors("order", [
        FieldError("items[0].qty", "Input should be greater than or equal to 1",
                   '{"minimum":1}', "0"),
        FieldError("note", "Field required", '{"type":"string"}', None),
    ])
    assert text == (
        "Invalid input for tool `order` (2 errors); fix the fields below and call the tool again.\n"
        "- `items[0].qty`: Input should be greater than or equal to 1. Received: 0. "
        'Expected: {"minimum":1}.\n'
        '- `note`: Field required. Expected: {"type":"string"}.'
    )


def test_format_field_errors_caps_the_list() -> None:
    text = format_field_errors("t", [FieldError(f"f{i}", "bad") for i in range(25)])
    assert text.startswith("Invalid input for tool `t` (25 errors)")
    assert text.count("\n- `f") == 20
    assert text.endswith("- … and 5 more.")


# -- JSON Schema tools ----------------------------------------------------------------------------

WEATHER = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "days": {"type": "integer", "minimum": 1},
        "opts": {"type": "object", "properties": {"units": {"enum": ["c", "f"]}}},
    },
    "required": ["city"],
}


def test_json_schema_validator_accepts_valid_input_unchanged() -> None:
    payload = {"city": "Oslo", "days": 2}
    assert JsonSchemaValidator(WEATHER, label="weather").validate(payload) == (payload, [])


def test_json_schema_validator_reports_each_field() -> None:
    _, errors = JsonSchemaValidator(WEATHER, label="weather").validate(
        {"days": 0, "opts": {"units": "k"}}
    )
    assert [(e.path, e.message, e.received) for e in errors] == [
        ("", "'city' is a required property", None),
        ("days", "0 is less than the minimum of 1", "0"),
        ("opts.units", "'k' is not one of ['c', 'f']", '"k"'),
    ]
    assert errors[1].expected == '{"type":"integer","minimum":1}'


@pytest.mark.parametrize(
    ("schema", "fragment"),
    [
        ({"type": "string"}, 'must be a JSON Schema object with "type": "object"'),
        ({"type": "object", "properties": {"x": {"type": "nope"}}}, "is not valid JSON Schema"),
        ({"type": "object", "required": "city"}, "is not valid JSON Schema"),
    ],
)
def test_json_schema_validator_refuses_bad_schemas(schema: dict[str, Any], fragment: str) -> None:
    with pytest.raises(UsageError, match="tool `mcp_tool`") as info:
        JsonSchemaValidator(schema, label="mcp_tool")
    assert fragment in str(info.value)
