"""Tool input schemas from signatures: a function's parameters and docstring → `input_schema`.

Owns how a Python signature becomes the JSON Schema the model reads and the pydantic model that
checks the model's input. Rules:

- pydantic builds the schema (one model per function, made at definition time); we only clean
  it (`json_schema.clean_schema`): no `title` noise, `$defs` kept only for recursive types,
  OpenAPI-only keys dropped.
- A parameter's description comes from, in order of precedence: `Field(description=...)`,
  `Annotated[T, "text"]`, the docstring's parameter section (Google, NumPy or Sphinx, read with
  `docstring_parser`).
- A parameter annotated with `RunContext` is left out of the schema; the caller injects it.
- Anything we cannot represent faithfully is refused at definition time with `UsageError`
  naming the function and parameter: `*args`/`**kwargs`, a missing annotation, a bare `object`,
  types pydantic cannot describe, and `bytes` (JSON has no bytes: take a `str`, e.g. base64).
- Bad input is reported, never raised: `validate` returns `validation.FieldError`s.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic.errors import PydanticUserError

from .._errors import UsageError
from .context import RunContext
from .json_schema import clean_schema, contains_binary
from .validation import FieldError, field_errors

__all__ = ["FunctionSchema", "function_schema"]


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
            return None, field_errors(exc, self.input_schema)
        values = validated.__dict__
        return {param: values[field] for field, param in self.fields}, []


def function_schema(
    func: Callable[..., Any], *, skip_first: bool = False, label: str | None = None
) -> FunctionSchema:
    """Build the input schema and validator of `func` from its signature and docstring.

    `skip_first` drops the first parameter (`self`/`cls` of a method defined in a class body).
    `label` names the function in error messages (default: its qualified name).

    Raises:
        UsageError: a parameter cannot be represented (see the module docstring for the list).
    """
    name: str = label or getattr(func, "__qualname__", None) or repr(func)
    description, param_docs = _parse_docstring(inspect.getdoc(func) or "", name)
    params = list(_signature(func, name).parameters.values())
    found = _Parameters.read(params[1:] if skip_first else params, param_docs, name)
    model, input_schema = _input_model(found, name)
    return FunctionSchema(
        description=description,
        input_schema=input_schema,
        context_param=found.context_param,
        positional_only=tuple(found.positional_only),
        model=model,
        fields=tuple(found.fields),
    )


def _signature(func: Callable[..., Any], label: str) -> inspect.Signature:
    try:
        return inspect.signature(func, eval_str=True)
    except NameError as exc:
        raise UsageError(
            f"Cannot resolve the type annotations of `{label}`: {exc}. Define the types it uses "
            "at module level (string annotations are evaluated in the function's module)."
        ) from None


@dataclass
class _Parameters:
    """What the parameters of one function give: pydantic fields, and how to call it."""

    definitions: dict[str, Any] = field(default_factory=dict[str, Any])
    """Internal field name → (annotated type, default), for `create_model`."""
    fields: list[tuple[str, str]] = field(default_factory=list[tuple[str, str]])
    annotations: dict[str, Any] = field(default_factory=dict[str, Any])
    positional_only: list[str] = field(default_factory=list[str])
    context_param: str | None = None

    @classmethod
    def read(
        cls, params: list[inspect.Parameter], docs: dict[str, str], label: str
    ) -> _Parameters:
        found = cls()
        for index, param in enumerate(params):
            where = f"parameter `{param.name}` of `{label}`"
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                star = "*" if param.kind is param.VAR_POSITIONAL else "**"
                raise UsageError(
                    f"`{star}{param.name}` in `{label}`: tools cannot take variadic arguments, "
                    "because the model needs a fixed list of named parameters. Declare each one "
                    "explicitly."
                )
            annotation = param.annotation
            if annotation is inspect.Parameter.empty:
                raise UsageError(
                    f"{where} has no type annotation; the model needs a type. Annotate it "
                    "(use `typing.Any` to accept any JSON value)."
                )
            if annotation is RunContext or get_origin(annotation) is RunContext:
                if found.context_param is not None:
                    raise UsageError(
                        f"{where}: `{label}` already takes the RunContext as "
                        f"`{found.context_param}`; keep only one RunContext parameter."
                    )
                found.context_param = param.name
                continue
            if param.kind is param.POSITIONAL_ONLY:
                found.positional_only.append(param.name)
            internal = f"p{index}"
            found.definitions[internal] = _field_for(param, docs.get(param.name), where)
            found.fields.append((internal, param.name))
            found.annotations[param.name] = annotation
        return found


def _input_model(found: _Parameters, label: str) -> tuple[type[BaseModel], dict[str, Any]]:
    """The pydantic model that validates the input, and the clean schema the model sees."""
    model_name = "".join(c if c.isalnum() else "_" for c in label) + "_Input"
    try:
        model = create_model(model_name, __config__=ConfigDict(extra="forbid"), **found.definitions)
        raw = model.model_json_schema()
    except PydanticUserError as exc:
        raise _locate_failure(found.annotations, label, exc) from None
    schema = clean_schema(raw)
    if contains_binary(schema):
        raise _locate_failure(found.annotations, label, None) from None
    ordered: dict[str, Any] = {"type": "object", "properties": schema.get("properties", {})}
    if schema.get("required"):
        ordered["required"] = schema["required"]
    ordered["additionalProperties"] = False
    if "$defs" in schema:
        ordered["$defs"] = schema["$defs"]
    return model, ordered


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
        if contains_binary(adapter_schema):
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
    if "\n" not in doc and ":" not in doc and "@" not in doc:
        # One line with no section or field marker: what docstring_parser gives for it (the
        # line, no parameters), without its import and first parse (~5 ms of CPU compiling
        # its regexes), which every program defining a tool paid at start-up.
        return doc.strip(), {}
    import docstring_parser

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
