"""Checking the model's tool input, and telling it what was wrong, field by field.

Owns `FieldError`, its rendering as an `is_error` tool result, the errors of a pydantic
validation as field errors, and `JsonSchemaValidator` for tools that come with a hand-written
JSON Schema (as MCP servers give). Rule: validation never raises for bad input; it returns
`FieldError`s (path, what was wrong, what was expected, what was received) written for the model
to act on. jsonschema (~60 ms of start-up) is imported when a check needs it: a schema made of
plain keywords only (`plainly_valid`) is known valid without it, so defining such a tool (the
memory tool: `agentkit tools` lists it) loads jsonschema only at the first call.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from .._errors import UsageError
from .json_schema import is_array, is_object, ref_problem

if TYPE_CHECKING:
    import jsonschema.exceptions
    import jsonschema.protocols

__all__ = ["FieldError", "JsonSchemaValidator", "field_errors", "format_field_errors"]

_PREVIEW_CHARS = 200
_EXCERPT_CHARS = 300
_MAX_ERRORS = 20


@dataclass(frozen=True, slots=True)
class FieldError:
    """One reason the model's input was rejected, written for the model to act on."""

    path: str
    """Where in the input, e.g. `items[0].name`; empty for the input as a whole."""
    message: str
    """What was wrong, e.g. `Input should be a valid integer`."""
    expected: str | None = None
    """What the schema asks for there (a compact JSON Schema excerpt or a short phrase)."""
    received: str | None = None
    """A compact preview of the value that was sent (None when the field was missing)."""


def format_field_errors(tool_name: str, errors: list[FieldError]) -> str:
    """Render validation errors as the text of an `is_error` tool result."""
    n = len(errors)
    lines = [f"Invalid input for tool `{tool_name}` ({n} error{'s' if n != 1 else ''}); "
             "fix the fields below and call the tool again."]
    for e in errors[:_MAX_ERRORS]:
        line = f"- `{e.path or '(input)'}`: {e.message}."
        if e.received is not None:
            line += f" Received: {e.received}."
        if e.expected is not None:
            line += f" Expected: {e.expected}."
        lines.append(line)
    if n > _MAX_ERRORS:
        lines.append(f"- … and {n - _MAX_ERRORS} more.")
    return "\n".join(lines)


def _preview(value: Any, limit: int = _PREVIEW_CHARS) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, default=repr, separators=(",", ":"))
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _path(loc: Iterator[str | int] | tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def field_errors(exc: ValidationError, input_schema: dict[str, Any]) -> list[FieldError]:
    """The errors of a pydantic validation against `input_schema`, as field errors."""
    props: dict[str, Any] = input_schema.get("properties", {})
    errors: list[FieldError] = []
    for err in exc.errors(include_url=False):
        kind = err["type"]
        path, subschema = _resolve(input_schema, err["loc"])
        expected: str | None = None
        if kind == "extra_forbidden":
            names = ", ".join(f"`{p}`" for p in props) or "none"
            expected = f"no such parameter (the parameters are: {names})"
        elif not err["loc"]:
            expected = "a JSON object of the tool's parameters"
        elif subschema is not None:
            expected = _preview(subschema, _EXCERPT_CHARS)
        message = "Input should be a JSON object" if kind == "model_type" else err["msg"]
        received = None if kind == "missing" else _preview(err["input"])
        errors.append(FieldError(path, message, expected, received))
    return errors


def _resolve(schema: dict[str, Any], loc: tuple[str | int, ...]) -> tuple[str, object]:
    """Follow a pydantic error location through `schema`: (display path, subschema or None).

    pydantic puts union member tags (`int`, `str`, `Pt`, …) into locations; they are not
    fields, so they are left out of the path the model reads.
    """
    defs: dict[str, Any] = schema.get("$defs", {})

    def deref(node: object) -> object:
        if is_object(node):
            ref = node.get("$ref")
            if isinstance(ref, str):
                return defs.get(ref.rsplit("/", 1)[-1], node)
        return node

    node: object = schema
    parts: list[str | int] = []
    for part in loc:
        node = deref(node)
        if not is_object(node):
            parts.append(part)
            node = None
            continue
        if isinstance(part, int):
            prefix = node.get("prefixItems")
            node = prefix[part] if is_array(prefix) and part < len(prefix) else node.get("items")
            parts.append(part)
            continue
        props = node.get("properties")
        if is_object(props) and part in props:
            node = props[part]
            parts.append(part)
            continue
        members = [m for m in map(deref, node.get("anyOf", node.get("oneOf", []))) if is_object(m)]
        owner = next((m for m in members if part in m.get("properties", {})), None)
        if owner is not None:
            node = owner["properties"][part]
            parts.append(part)
        elif not members:
            parts.append(part)
            node = None
        # else: a union member tag; stay on the union.
    return _path(tuple(parts)), node


class JsonSchemaValidator:
    """Validate input against a hand-written JSON Schema (tools that come with one, e.g. MCP)."""

    __slots__ = ("_validator", "input_schema")

    def __init__(self, input_schema: dict[str, Any], *, label: str) -> None:
        """Check `input_schema` is a valid JSON Schema for an object.

        Raises:
            UsageError: the schema is not valid JSON Schema, or does not describe an object.
        """
        if not is_object(input_schema) or input_schema.get("type") != "object":
            raise UsageError(
                f"The input_schema of tool `{label}` must be a JSON Schema object with "
                f'"type": "object" (the Messages API requires it); got {_preview(input_schema)}.'
            )
        self.input_schema = input_schema
        self._validator: jsonschema.protocols.Validator | None = None
        if plainly_valid(input_schema):
            return  # nothing to report now: the validator is made at the first call
        problem = ref_problem(input_schema)
        if problem is not None:  # else every call would fail with the validator's own error
            raise UsageError(f"The input_schema of tool `{label}` cannot be used: {problem}.")
        # Imported here: jsonschema (with attrs, referencing, rpds) costs ~60 ms of start-up.
        import jsonschema.exceptions

        try:
            self._validator = _validator_for(input_schema, check=True)
        except jsonschema.exceptions.SchemaError as exc:
            raise UsageError(
                f"The input_schema of tool `{label}` is not valid JSON Schema: {exc.message} "
                f"(at {_path(tuple(exc.absolute_path)) or 'the top level'})."
            ) from None

    def validate(self, input: Any) -> tuple[dict[str, Any] | None, list[FieldError]]:
        """Check the model's input; return (input, []) or (None, errors)."""
        if self._validator is None:
            self._validator = _validator_for(self.input_schema, check=False)
        errors = [
            FieldError(
                _path(tuple(e.absolute_path)),
                e.message,
                _preview(e.schema, _EXCERPT_CHARS) if isinstance(e.schema, dict) else None,
                None if e.validator == "required" else _preview(e.instance),
            )
            for e in sorted(self._validator.iter_errors(input), key=_error_order)
        ]
        return (None, errors) if errors else (input, [])


def _validator_for(schema: dict[str, Any], *, check: bool) -> jsonschema.protocols.Validator:
    """jsonschema's validator for `schema` (its `$schema`'s draft, else 2020-12); `check`
    first checks the schema against its draft (raises `jsonschema.exceptions.SchemaError`)."""
    import jsonschema
    import jsonschema.validators

    cls = jsonschema.validators.validator_for(schema, jsonschema.Draft202012Validator)
    if check:
        cls.check_schema(schema)
    return cls(schema)


_TYPES = frozenset({"object", "array", "string", "integer", "number", "boolean", "null"})


def plainly_valid(schema: object) -> bool:
    """Whether `schema` is valid JSON Schema (2020-12) for sure, without jsonschema: it uses
    only `type`, `properties`, `items`, `additionalProperties`, `required`, `enum`,
    `description`, `title` and `default`, each with a value of the kind the draft wants.
    False means "not known": jsonschema checks it (`$schema`, `$ref` and the rest go there)."""
    if not is_object(schema):
        return False
    for key, value in schema.items():
        if key == "type":
            kinds: object = [value] if isinstance(value, str) else value
            if not (is_array(kinds) and kinds and all(isinstance(k, str) and k in _TYPES
                                                      for k in kinds)
                    and len(set(kinds)) == len(kinds)):
                return False
        elif key == "properties":
            names: list[object] = list(value) if is_object(value) else []  # keys may be any
            if not (is_object(value) and all(isinstance(k, str) for k in names)
                    and all(plainly_valid(v) for v in value.values())):
                return False
        elif key in ("items", "additionalProperties"):
            if not (isinstance(value, bool) or plainly_valid(value)):
                return False
        elif key == "required":
            if not (is_array(value) and all(isinstance(v, str) for v in value)
                    and len(set(value)) == len(value)):
                return False
        elif key == "enum":
            if not is_array(value):
                return False
        elif key in ("description", "title"):
            if not isinstance(value, str):
                return False
        elif key != "default":
            return False
    return True


def _error_order(error: jsonschema.exceptions.ValidationError) -> list[str]:
    return [str(p) for p in error.absolute_path]
