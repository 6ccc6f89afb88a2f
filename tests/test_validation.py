"""Field errors as the model reads them, and `JsonSchemaValidator` for hand-written schemas."""

from __future__ import annotations

from typing import Any

import pytest

from agentkit._errors import UsageError
from agentkit._tools.validation import (
    FieldError,
    JsonSchemaValidator,
    format_field_errors,
    plainly_valid,
)


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


PLAIN = {  # plain keywords only: known valid without jsonschema, which is loaded at the call
    "type": "object",
    "properties": {
        "command": {"type": "string", "enum": ["view", "create"], "description": "what"},
        "lines": {"type": "array", "items": {"type": "integer"}},
        "note": {"type": ["string", "null"], "default": None, "title": "Note"},
    },
    "required": ["command"],
    "additionalProperties": False,
}


def test_a_plain_schema_checks_input_as_any_other() -> None:
    assert plainly_valid(PLAIN)
    validator = JsonSchemaValidator(PLAIN, label="memory")
    _, errors = validator.validate({"command": "drop", "lines": ["1"], "extra": 1})
    assert [(e.path, e.message) for e in errors] == [
        ("", "Additional properties are not allowed ('extra' was unexpected)"),
        ("command", "'drop' is not one of ['view', 'create']"),
        ("lines[0]", "'1' is not of type 'integer'"),
    ]
    assert validator.validate({"command": "view"}) == ({"command": "view"}, [])


VALID: list[dict[str, Any]] = [
    PLAIN, WEATHER, {}, {"type": "object"}, {"items": True}, {"enum": []},
    {"type": ["string", "null"]}, {"required": []}, {"additionalProperties": {"type": "string"}},
    {"properties": {"a": {"$ref": "#/properties/x/$defs/a"}}, "$defs": {"a": {}}},  # as x
    {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object"},
]
INVALID: list[dict[str, Any]] = [
    {"type": "strin"}, {"type": []}, {"type": ["string", "string"]}, {"type": 3},
    {"required": "a"}, {"required": ["a", "a"]}, {"required": [1]}, {"enum": "x"},
    {"description": 3}, {"title": None}, {"items": [{"type": "string"}]}, {"items": 1},
    {"properties": {"a": {"type": "nope"}}}, {"properties": []}, {"additionalProperties": 1},
    {"properties": {"a": {"items": {"required": "x"}}}},
]


@pytest.mark.parametrize("schema", VALID + INVALID)
def test_plainly_valid_never_passes_a_schema_jsonschema_refuses(schema: dict[str, Any]) -> None:
    import jsonschema.exceptions

    try:
        jsonschema.Draft202012Validator.check_schema(schema)
        valid = True
    except jsonschema.exceptions.SchemaError:
        valid = False
    assert valid == any(schema is v for v in VALID)  # the lists are right ({"items": 1}
    # equals {"items": True} in Python: hence `is`)
    if plainly_valid(schema):
        assert valid
    wrapped = {"type": "object", "properties": {"x": schema}}
    if not valid:  # refused at definition, with jsonschema's reason, as before
        with pytest.raises(UsageError, match="is not valid JSON Schema"):
            JsonSchemaValidator(wrapped, label="t")
    else:
        assert JsonSchemaValidator(wrapped, label="t").validate({}) == ({}, [])


TREE: dict[str, Any] = {
    "type": "object",
    "properties": {"root": {"$ref": "#/$defs/node"}},
    "$defs": {"node": {"type": "object", "properties": {
        "name": {"type": "string"},
        "children": {"type": "array", "items": {"$ref": "#/$defs/node"}},
    }}},
}


@pytest.mark.parametrize(("schema", "said"), [
    ({"type": "object", "properties": {"a": {"$ref": "http://127.0.0.1:9/a.json"}}},
     r"the \$ref 'http://127\.0\.0\.1:9/a\.json' at #/properties/a points outside the schema"),
    ({"type": "object", "properties": {"a": {"$ref": "#/$defs/gone"}}},
     r"the \$ref '#/\$defs/gone' at #/properties/a points at nothing"),
    ({"type": "object", "properties": {"a": {"$ref": "#/$defs/n"}},
      "$defs": {"n": {"$ref": "#/$defs/n"}}},
     r"the \$ref at #/\$defs/n loops back to #/\$defs/n without going into a field"),
    ({"type": "object", "allOf": [{"anyOf": [{"$ref": "#"}]}]},
     r"the \$ref at #/allOf/0/anyOf/0 loops back to # "),
])
def test_a_schema_whose_refs_cannot_be_followed_is_refused_at_definition(
    schema: dict[str, Any], said: str
) -> None:
    # Else each call failed with jsonschema's referencing error or a RecursionError, out of
    # the tool's run and so out of the agent's (an MCP server's tool: the server's fault).
    with pytest.raises(UsageError, match=f"input_schema of tool `t` cannot be used: {said}"):
        JsonSchemaValidator(schema, label="t")


def test_a_recursive_schema_that_goes_into_the_input_is_kept() -> None:
    validator = JsonSchemaValidator(TREE, label="t")
    tree = {"root": {"name": "a", "children": [{"name": "b", "children": [{"name": 3}]}]}}
    _, errors = validator.validate(tree)
    assert [(e.path, e.message) for e in errors] == [
        ("root.children[0].children[0].name", "3 is not of type 'string'")
    ]
