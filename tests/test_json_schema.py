"""`clean_schema`: JSON Schema reshaped for the model (`strict_schema` is tested on function
schemas, in test_schema.py)."""

from __future__ import annotations

from jsonschema import Draft202012Validator

from agentkit._tools.json_schema import clean_schema

# -- clean_schema ---------------------------------------------------------------------------------


def test_clean_schema_keeps_keywords_that_are_property_names() -> None:
    raw = {
        "title": "M",
        "type": "object",
        "properties": {"title": {"title": "Title", "type": "string"}, "items": {"type": "string"}},
    }
    assert clean_schema(raw) == {
        "type": "object",
        "properties": {"title": {"type": "string"}, "items": {"type": "string"}},
    }


def test_clean_schema_inlines_with_siblings_overriding() -> None:
    raw = {
        "type": "object",
        "properties": {"c": {"$ref": "#/$defs/C", "description": "mine"}},
        "$defs": {"C": {"title": "C", "enum": ["a"], "type": "string", "description": "enum doc"}},
    }
    assert clean_schema(raw) == {
        "type": "object",
        "properties": {"c": {"enum": ["a"], "type": "string", "description": "mine"}},
    }


def test_clean_schema_keeps_mutually_recursive_defs() -> None:
    raw = {
        "type": "object",
        "properties": {"a": {"$ref": "#/$defs/A"}, "l": {"$ref": "#/$defs/Leaf"}},
        "$defs": {
            "A": {"type": "object", "properties": {"b": {"$ref": "#/$defs/B"}}},
            "B": {"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}}},
            "Leaf": {"type": "integer"},
        },
    }
    cleaned = clean_schema(raw)
    assert set(cleaned["$defs"]) == {"A", "B"}
    assert cleaned["properties"]["l"] == {"type": "integer"}
    Draft202012Validator.check_schema(cleaned)
