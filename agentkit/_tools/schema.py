"""Tool input schemas: a function's signature and docstring → `input_schema`, and validation.

Owns how a Python signature becomes the JSON Schema the model reads, and how the model's input
is checked against it before any tool code runs. Rules:

- pydantic builds the schema (one model per function, made at definition time); we only clean
  it: no `title` noise, `$defs` kept only for recursive types, OpenAPI-only keys dropped.
- A parameter's description comes from, in order of precedence: `Field(description=...)`,
  `Annotated[T, "text"]`, the docstring's parameter section (Google, NumPy or Sphinx, read with
  `docstring_parser`).
- A parameter annotated with `RunContext` is left out of the schema; the caller injects it.
- Anything we cannot represent faithfully is refused at definition time with `UsageError`
  naming the function and parameter: `*args`/`**kwargs`, a missing annotation, a bare `object`,
  types pydantic cannot describe, and `bytes` (JSON has no bytes: take a `str`, e.g. base64).
- Validation never raises for bad input: it returns `FieldError`s (path, what was wrong, what
  was expected, what was received) that the tool layer turns into an `is_error` result.
"""

from __future__ import annotations

import inspect
import json
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, get_args, get_origin

import docstring_parser
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic.errors import PydanticUserError

from .._errors import UsageError
from .context import RunContext

if TYPE_CHECKING:
    import jsonschema.exceptions

__all__ = [
    "FieldError",
    "FunctionSchema",
    "JsonSchemaValidator",
    "clean_schema",
    "format_field_errors",
    "function_schema",
    "strict_schema",
]

_PREVIEW_CHARS = 200
_EXCERPT_CHARS = 300
_MAX_ERRORS = 20

# JSON Schema keywords whose value is a map of name → subschema, a subschema, or a list of them.
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions",
                          "dependentSchemas"})
_SCHEMA_ONE = frozenset({"items", "additionalProperties", "unevaluatedProperties", "not",
                         "contains", "propertyNames", "if", "then", "else", "unevaluatedItems",
                         "additionalItems"})
_SCHEMA_LIST = frozenset({"anyOf", "allOf", "oneOf", "prefixItems"})
# `title` is noise to the model; `discriminator` is OpenAPI, not JSON Schema, and its mapping
# points at `$defs` entries we may have inlined.
_DROPPED = frozenset({"title", "discriminator", "$defs"})
# Constraints strict tool use cannot enforce (its grammar rejects them); `minItems` above 1 too.
_STRICT_MOVED = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
                 "minLength", "maxLength", "maxItems", "uniqueItems", "minItems")


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


# -- schema cleaning ------------------------------------------------------------------------------


def clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Return `schema` without titles, with non-recursive `$defs` inlined.

    Only definitions that refer to themselves (directly or through others) stay in `$defs`;
    everything else is inlined where it is used, so the model reads one self-contained object.
    """
    defs: dict[str, Any] = schema.get("$defs", {})
    recursive = _recursive_defs(defs)

    def walk(node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            name = ref[len("#/$defs/"):]
            if name in defs and name not in recursive:
                merged = dict(walk(defs[name]))
                merged.update(walk({k: v for k, v in node.items() if k != "$ref"}))
                return merged
        return _map_subschemas({k: v for k, v in node.items() if k not in _DROPPED}, walk)

    cleaned: dict[str, Any] = walk(schema)
    kept = {name: walk(defs[name]) for name in defs if name in recursive}
    if kept:
        cleaned["$defs"] = kept
    return cleaned


def strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Return `schema` shaped for a `strict: true` tool definition.

    Every object gets `additionalProperties: false`, and constraints strict mode cannot
    enforce move into the description (as the official SDKs do); agentkit still validates
    them before the call, so nothing is lost.
    """

    def walk(node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        moved = {k: node[k] for k in _STRICT_MOVED if k in node
                 and not (k == "minItems" and node[k] in (0, 1))}
        out = _map_subschemas({k: v for k, v in node.items() if k not in moved}, walk)
        if out.get("type") == "object" and "properties" in out:
            out.setdefault("additionalProperties", False)
        if moved:
            note = "{" + ", ".join(f"{k}: {json.dumps(v)}" for k, v in moved.items()) + "}"
            description = out.get("description")
            out["description"] = f"{description}\n\n{note}" if description else note
        return out

    return walk(schema)


def _map_subschemas(node: dict[str, Any], fn: Callable[[Any], Any]) -> dict[str, Any]:
    """Copy one schema object, applying `fn` to each direct subschema (keyword-aware)."""
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {k: fn(v) for k, v in value.items()}
        elif key in _SCHEMA_ONE:
            out[key] = fn(value)
        elif key in _SCHEMA_LIST and isinstance(value, list):
            out[key] = [fn(v) for v in value]
        else:
            out[key] = value
    return out


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            yield ref[len("#/$defs/"):]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _recursive_defs(defs: dict[str, Any]) -> set[str]:
    edges = {name: set(_refs(d)) for name, d in defs.items()}
    recursive: set[str] = set()
    for start in defs:
        seen: set[str] = set()
        stack = list(edges[start])
        while stack:
            name = stack.pop()
            if name == start:
                recursive.add(start)
                break
            if name not in seen and name in edges:
                seen.add(name)
                stack.extend(edges[name])
    return recursive


def _contains_binary(node: Any) -> bool:
    if isinstance(node, dict):
        if node.get("format") == "binary" and node.get("type") == "string":
            return True
        return any(_contains_binary(v) for v in node.values())
    if isinstance(node, list):
        return any(_contains_binary(v) for v in node)
    return False


# -- function schemas -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FunctionSchema:
    """The schema of one function's parameters, and how to validate input for it."""

    description: str
    """The docstring's summary and body (no parameter sections); empty if there is none."""
    input_schema: dict[str, Any]
    """The clean JSON Schema (`type: object`) the model sees."""
    context_param: str | None
    """The name of the parameter that receives the `RunContext`, if any."""
    positional_only: tuple[str, ...]
    """Positional-only parameters, in order (they are passed positionally)."""
    model: type[BaseModel]
    """The pydantic model that validates input (field names are internal; aliases are public)."""
    fields: tuple[tuple[str, str], ...]
    """(model field name, parameter name) pairs."""

    def validate(self, input: Any) -> tuple[dict[str, Any] | None, list[FieldError]]:
        """Check the model's input; return (keyword arguments, []) or (None, errors)."""
        try:
            validated = self.model.model_validate(input)
        except ValidationError as exc:
            return None, self._field_errors(exc)
        values = validated.__dict__
        return {param: values[field] for field, param in self.fields}, []

    def _field_errors(self, exc: ValidationError) -> list[FieldError]:
        props: dict[str, Any] = self.input_schema.get("properties", {})
        errors: list[FieldError] = []
        for err in exc.errors(include_url=False):
            kind = err["type"]
            path, subschema = _resolve(self.input_schema, err["loc"])
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


def _resolve(schema: dict[str, Any], loc: tuple[str | int, ...]) -> tuple[str, Any]:
    """Follow a pydantic error location through `schema`: (display path, subschema or None).

    pydantic puts union member tags (`int`, `str`, `Pt`, …) into locations; they are not
    fields, so they are left out of the path the model reads.
    """
    defs: dict[str, Any] = schema.get("$defs", {})

    def deref(node: Any) -> Any:
        if isinstance(node, dict) and isinstance(node.get("$ref"), str):
            return defs.get(node["$ref"].rsplit("/", 1)[-1], node)
        return node

    node: Any = schema
    parts: list[str | int] = []
    for part in loc:
        node = deref(node)
        if not isinstance(node, dict):
            parts.append(part)
            node = None
            continue
        if isinstance(part, int):
            prefix = node.get("prefixItems")
            if isinstance(prefix, list) and part < len(prefix):
                node = prefix[part]
            else:
                node = node.get("items")
            parts.append(part)
            continue
        props = node.get("properties")
        if isinstance(props, dict) and part in props:
            node = props[part]
            parts.append(part)
            continue
        members = [deref(m) for m in node.get("anyOf", node.get("oneOf", []))]
        owner = next((m for m in members if part in m.get("properties", {})), None)
        if owner is not None:
            node = owner["properties"][part]
            parts.append(part)
        elif not members:
            parts.append(part)
            node = None
        # else: a union member tag; stay on the union.
    return _path(tuple(parts)), node


def function_schema(
    func: Callable[..., Any], *, skip_first: bool = False, label: str | None = None
) -> FunctionSchema:
    """Build the input schema and validator of `func` from its signature and docstring.

    `skip_first` drops the first parameter (`self`/`cls` of a method defined in a class body).
    `label` names the function in error messages (default: its qualified name).

    Raises:
        UsageError: a parameter cannot be represented (see the module docstring for the list).
    """
    label = label or getattr(func, "__qualname__", None) or repr(func)
    try:
        signature = inspect.signature(func, eval_str=True)
    except NameError as exc:
        raise UsageError(
            f"Cannot resolve the type annotations of `{label}`: {exc}. Define the types it uses "
            "at module level (string annotations are evaluated in the function's module)."
        ) from None
    doc_description, param_docs = _parse_docstring(inspect.getdoc(func) or "", label)

    params = list(signature.parameters.values())
    if skip_first and params:
        params = params[1:]
    definitions: dict[str, Any] = {}
    fields: list[tuple[str, str]] = []
    annotations: dict[str, Any] = {}
    positional_only: list[str] = []
    context_param: str | None = None
    for index, param in enumerate(params):
        where = f"parameter `{param.name}` of `{label}`"
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            star = "*" if param.kind is param.VAR_POSITIONAL else "**"
            raise UsageError(
                f"`{star}{param.name}` in `{label}`: tools cannot take variadic arguments, because "
                "the model needs a fixed list of named parameters. Declare each one explicitly."
            )
        annotation = param.annotation
        if annotation is inspect.Parameter.empty:
            raise UsageError(
                f"{where} has no type annotation; the model needs a type. Annotate it "
                "(use `typing.Any` to accept any JSON value)."
            )
        if annotation is RunContext or get_origin(annotation) is RunContext:
            if context_param is not None:
                raise UsageError(f"{where}: `{label}` already takes the RunContext as "
                                 f"`{context_param}`; keep only one RunContext parameter.")
            context_param = param.name
            continue
        if param.kind is param.POSITIONAL_ONLY:
            positional_only.append(param.name)
        field_type, default = _field_for(param, param_docs.get(param.name), where)
        internal = f"p{index}"
        definitions[internal] = (field_type, default)
        fields.append((internal, param.name))
        annotations[param.name] = param.annotation

    model_name = "".join(c if c.isalnum() else "_" for c in label) + "_Input"
    try:
        model = create_model(model_name, __config__=ConfigDict(extra="forbid"), **definitions)
        raw = model.model_json_schema()
    except PydanticUserError as exc:
        raise _locate_failure(annotations, label, exc) from None
    schema = clean_schema(raw)
    if _contains_binary(schema):
        raise _locate_failure(annotations, label, None) from None
    ordered = {"type": "object", "properties": schema.get("properties", {})}
    if schema.get("required"):
        ordered["required"] = schema["required"]
    ordered["additionalProperties"] = False
    if "$defs" in schema:
        ordered["$defs"] = schema["$defs"]
    return FunctionSchema(
        description=doc_description,
        input_schema=ordered,
        context_param=context_param,
        positional_only=tuple(positional_only),
        model=model,
        fields=tuple(fields),
    )


def _field_for(param: inspect.Parameter, doc: str | None, where: str) -> tuple[Any, Any]:
    """Return (Annotated type carrying alias and description, default) for one parameter."""
    annotation = param.annotation
    base, metadata = annotation, ()
    if get_origin(annotation) is Annotated:
        base, *rest = get_args(annotation)
        metadata = tuple(rest)
    if base is object:
        raise UsageError(
            f"{where} is annotated `object`, which says nothing to the model. Use a concrete "
            "type, or `typing.Any` to accept any JSON value."
        )
    texts = [m for m in metadata if isinstance(m, str)]
    kept = tuple(m for m in metadata if not isinstance(m, str))
    description = texts[-1] if texts else doc
    # Ours goes first so that a user's Field(...) (merged after it) wins on every attribute it sets.
    ours = Field(alias=param.name, description=description or None)
    field_type = Annotated[(base, ours, *kept)]  # type: ignore[valid-type]
    # A `Field(...)` given as the default is passed as such: pydantic merges it last, so it wins.
    default: Any = ... if param.default is inspect.Parameter.empty else param.default
    return field_type, default


def _locate_failure(
    annotations: dict[str, Any], label: str, exc: PydanticUserError | None
) -> UsageError:
    """Find which parameter pydantic could not describe and say so (definition time only)."""
    from pydantic import TypeAdapter

    for name, annotation in annotations.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # field-only metadata out of its field context
                adapter_schema = TypeAdapter(annotation).json_schema()
        except PydanticUserError as inner:
            reason = str(inner).split("\n", 1)[0]
            return UsageError(
                f"parameter `{name}` of `{label}` has a type the model cannot be told about "
                f"({reason}). Use JSON-friendly types: str, int, float, bool, list, dict, "
                "Literal, Enum, pydantic models, dataclasses or TypedDict."
            )
        if _contains_binary(adapter_schema):
            return UsageError(
                f"parameter `{name}` of `{label}` is or contains `bytes`, which JSON cannot "
                "carry. Take a `str` instead (for binary data, ask for base64 and decode it)."
            )
    reason = str(exc).split("\n", 1)[0] if exc else "unknown reason"
    return UsageError(f"Cannot build the input schema of `{label}`: {reason}")


def _parse_docstring(doc: str, label: str) -> tuple[str, dict[str, str]]:
    """Return (description without parameter sections, {param: description})."""
    if not doc:
        return "", {}
    try:
        parsed = docstring_parser.parse(doc)
    except docstring_parser.ParseError as exc:
        # A docstring we cannot split is still a fine description: warn, don't crash.
        warnings.warn(
            f"Could not parse the docstring of `{label}` ({exc}); using it whole as the tool "
            "description and describing no parameters.",
            UserWarning,
            stacklevel=4,
        )
        return doc.strip(), {}
    parts = [p for p in (parsed.short_description, parsed.long_description) if p]
    params = {p.arg_name: p.description.strip() for p in parsed.params if p.description}
    return "\n\n".join(parts).strip(), params


# -- plain JSON Schemas (MCP-style tools) ---------------------------------------------------------


class JsonSchemaValidator:
    """Validate input against a hand-written JSON Schema (tools that come with one, e.g. MCP)."""

    __slots__ = ("_validator", "input_schema")

    def __init__(self, input_schema: dict[str, Any], *, label: str) -> None:
        """Check `input_schema` is a valid JSON Schema for an object.

        Raises:
            UsageError: the schema is not valid JSON Schema, or does not describe an object.
        """
        if not isinstance(input_schema, dict) or input_schema.get("type") != "object":
            raise UsageError(
                f"The input_schema of tool `{label}` must be a JSON Schema object with "
                f'"type": "object" (the Messages API requires it); got {_preview(input_schema)}.'
            )
        # Imported here: jsonschema (with attrs, referencing, rpds) costs ~60 ms of start-up,
        # and only tools defined from a JSON Schema need it.
        import jsonschema
        import jsonschema.exceptions
        import jsonschema.validators

        cls = jsonschema.validators.validator_for(input_schema, jsonschema.Draft202012Validator)
        try:
            cls.check_schema(input_schema)
        except jsonschema.exceptions.SchemaError as exc:
            raise UsageError(
                f"The input_schema of tool `{label}` is not valid JSON Schema: {exc.message} "
                f"(at {_path(tuple(exc.absolute_path)) or 'the top level'})."
            ) from None
        self.input_schema = input_schema
        self._validator = cls(input_schema)

    def validate(self, input: Any) -> tuple[dict[str, Any] | None, list[FieldError]]:
        """Check the model's input; return (input, []) or (None, errors)."""
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


def _error_order(error: jsonschema.exceptions.ValidationError) -> list[str]:
    return [str(p) for p in error.absolute_path]
