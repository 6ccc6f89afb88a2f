"""Tools: the `@tool` decorator, `Tool`, and running one tool call into a `tool_result` block.

Owns turning a Python callable (or a name + JSON Schema + handler, as MCP servers provide) into a
tool definition, and executing one call of it. Rules:

- Everything that can be checked is checked at definition time (`UsageError` naming the
  function and parameter); `Tool.run` then does no per-call schema work beyond validation.
- `Tool.run` always returns a wire-form `tool_result` dict. Bad input, `ToolError`, any other
  `Exception` and timeouts become `is_error` results so the run goes on; only `raise_errors`
  escalates ordinary exceptions, and a `StoreError` (a durable run inside the call refused by
  its store: locked, another agent's, unreadable) always fails the run: the model can do
  nothing about it, and a durable caller's resume runs the call again once it is fixed.
  Cancellation (a `BaseException`) is never caught.
- Async tools run in a cancel scope, so a timeout really stops them; sync tools run in a worker
  thread that a timeout abandons (Python cannot kill a thread; the result is discarded).
- The options are spelled once as typed keywords (`ToolOptions`) and once as attributes with
  their defaults and docs (`_Options`, Tool's base); `@tool`, `Tool.from_schema` and
  `Tool.replace` pass them through, and one place (`Tool._set`) applies and checks them all.
- What a result looks like (content, truncation) is `content`'s.
- Defining tools loads neither the wire models nor anyio (`agentkit tools` lists them
  without): results are built by `_api.blocks.tool_result`, and a call imports anyio to run.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import re
from collections.abc import Awaitable, Callable, Mapping
from types import MethodType
from typing import Any, Literal, Protocol, TypeAlias, TypedDict, Unpack, cast, overload

import pydantic_core

from .._api.blocks import tool_result
from .._errors import StoreError, ToolError, UsageError
from .accepted import Checked, check, said
from .content import DEFAULT_MAX_RESULT_CHARS, Content, describe, to_content, truncate
from .context import RunContext
from .json_schema import strict_schema
from .schema import function_schema
from .validation import FieldError, JsonSchemaValidator, format_field_errors

__all__ = ["Prepare", "Tool", "ToolChanges", "ToolError", "ToolOptions", "tool"]

_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_TIMED_OUT: Any = object()

Prepare: TypeAlias = Callable[
    [RunContext[Any], "Tool"], "Tool | Awaitable[Tool | None] | None"
]
"""Per-turn hook: return the tool (possibly `tool.replace(...)`d) to offer it, None to hide it."""


class _Validator(Protocol):
    @property
    def input_schema(self) -> dict[str, Any]: ...

    def validate(self, input: Any) -> tuple[dict[str, Any] | None, list[FieldError]]: ...


class ToolOptions(TypedDict, total=False):
    """The options of a tool, as `@tool(...)`, `Tool.from_schema` and `Tool.replace` take them.

    Each is documented, with its default, on the `Tool` attribute of the same name.
    """

    sequential: bool
    idempotent: bool
    timeout: float | None
    requires_approval: bool
    strict: bool | None
    raise_errors: bool | None
    max_result_chars: int | None
    cache_control: dict[str, Any] | None
    prepare: Prepare | None


class ToolChanges(ToolOptions, total=False):
    """What `Tool.replace` may change: the options, the name and the description."""

    name: str
    description: str


_CHANGEABLE = ToolChanges.__optional_keys__


class _Options:
    """Each tool option (`ToolOptions`) with its default; every `Tool` holds its own value."""

    __slots__ = ()

    sequential: bool = False
    """If true, never run concurrently with other tool calls of the same turn."""
    idempotent: bool = False
    """If true, running it twice does no harm: a durable run interrupted during the call runs
    it again after a crash (with the same `ctx.idempotency_key`). If false (the default), a
    durable run commits a "started" mark first and never runs it twice: a call interrupted by
    a crash is answered with an error saying it may or may not have taken effect."""
    timeout: float | None = None
    """Seconds before the call is stopped and reported as an error; None waits forever."""
    requires_approval: bool = False
    """If true, the run asks for approval before calling it."""
    strict: bool | None = None
    """Sent as the definition's `strict` flag when set. When true, `input_schema` is reshaped for
    strict mode (objects closed, unenforceable constraints moved into descriptions)."""
    raise_errors: bool | None = None
    """True re-raises ordinary exceptions, False reports them; None defers to the run."""
    max_result_chars: int | None = None
    """Truncation limit for this tool's results; None defers to the run (default 100,000)."""
    cache_control: dict[str, Any] | None = None
    """Sent as the definition's `cache_control` when set (a prompt-cache breakpoint)."""
    prepare: Prepare | None = None
    """Per-turn hook (see `Prepare`) applied before any toolset-level hook."""


_OPTIONS = tuple(sorted(ToolOptions.__optional_keys__))


class Tool(_Options):
    """A tool the model can call: its wire definition plus how to run it.

    Make one with `@tool` (from a function or method) or `Tool.from_schema` (from a JSON
    Schema and a handler). Calling a `Tool` directly calls the underlying function unchanged.
    The options and their defaults are `_Options`' attributes.
    """

    # Slots: the attributes are read on every call, and tools are copied (bound, replaced).
    __slots__ = ("_attr_name", "_call_kind", "_context_param", "_is_async", "_method",
                 "_positional_only", "_validator", "description", "function", "input_schema",
                 "name", *_OPTIONS)

    name: str
    """The name the model calls the tool by (`^[a-zA-Z0-9_-]{1,64}$`)."""
    description: str
    """What the tool does and when to use it; the model reads this."""
    input_schema: dict[str, Any]
    """The JSON Schema (`type: object`) of the tool's input."""
    function: Callable[..., Any]
    """The callable that does the work (a function, bound method or schema-tool handler)."""

    def __init__(
        self,
        *,
        name: str,
        description: str,
        function: Callable[..., Any],
        validator: _Validator,
        call_kind: Literal["kwargs", "input", "input_ctx"],
        context_param: str | None = None,
        positional_only: tuple[str, ...] = (),
        method: Literal["instance", "class"] | None = None,
        **options: Unpack[ToolOptions],
    ) -> None:
        """Low-level constructor; use `@tool` or `Tool.from_schema` instead."""
        label = getattr(function, "__qualname__", None) or repr(function)
        if not description.strip():
            raise UsageError(
                f"Tool `{name}` ({label}) has no description, and the model needs one to know "
                "when to call it. Write a docstring, or pass description=... ."
            )
        self.name = name
        self.description = description
        self.function = function
        self._validator = validator
        self._call_kind = call_kind
        self._context_param = context_param
        self._positional_only = positional_only
        self._method = method
        self._attr_name: str | None = None
        self._is_async = _is_async_callable(function)
        for option in _OPTIONS:
            setattr(self, option, getattr(_Options, option))
        self._set(options, label)

    @classmethod
    def from_schema(
        cls,
        *,
        name: str,
        description: str,
        input_schema: dict[str, Any],
        handler: Callable[..., Any],
        **options: Unpack[ToolOptions],
    ) -> Tool:
        """Make a tool from a name, description, JSON Schema and handler (as MCP servers give).

        `handler(input)` or `handler(input, ctx)` (sync or async) receives the validated input
        dict; input is checked with `jsonschema` first, and failures are reported to the model.
        The options are `@tool`'s (see `ToolOptions`).

        Raises:
            UsageError: a bad name or options, or `input_schema` is not a valid object schema.
        """
        return cls(
            name=name,
            description=description,
            function=handler,
            validator=JsonSchemaValidator(input_schema, label=name),
            call_kind="input_ctx" if _positional_arity(handler) >= 2 else "input",
            **options,
        )

    def _set(self, changes: Mapping[str, object], label: str) -> None:
        """Apply options (and a name or description); check them all, as the tool now is."""
        unknown = changes.keys() - _CHANGEABLE
        if unknown:
            raise UsageError(
                f"Tool `{self.name}` ({label}) cannot change {', '.join(sorted(unknown))}: only "
                f"its options can be set ({', '.join(sorted(_CHANGEABLE))})."
            )
        for key, value in changes.items():
            setattr(self, key, value)
        # Strict mode gets its own shape of the schema; validation keeps the full one.
        schema = self._validator.input_schema
        self.input_schema = strict_schema(schema) if self.strict else schema
        _check_options(self.name, label, self.timeout, self.max_result_chars)

    # -- definition ------------------------------------------------------------------------------

    def to_param(self) -> dict[str, Any]:
        """The wire tool definition: name, description, input_schema (+ strict, cache_control)."""
        param: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "input_schema": self.input_schema,
        }
        if self.strict is not None:
            param["strict"] = self.strict
        if self.cache_control is not None:
            param["cache_control"] = self.cache_control
        return param

    def replace(self, **changes: Unpack[ToolChanges]) -> Tool:
        """Return a copy with some attributes changed (e.g. in `prepare`: a new description).

        Raises:
            UsageError: an unknown attribute, `input_schema` (fixed at definition), or a bad value.
        """
        new = copy.copy(self)
        new._set(changes, self.name)
        return new

    def __repr__(self) -> str:
        return f"Tool(name={self.name!r}, function={getattr(self.function, '__qualname__', '?')})"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the underlying function directly (no validation, no result conversion)."""
        return self.function(*args, **kwargs)

    # -- methods: `@tool` in a class body binds like a method --------------------------------------

    def __set_name__(self, owner: type, name: str) -> None:
        self._attr_name = name

    def __get__(self, instance: object | None, owner: type | None = None) -> Tool:
        if self._method is None:
            return self
        target = owner if self._method == "class" else instance
        if target is None:
            return self
        bound = copy.copy(self)
        bound.function = MethodType(self.function, target)
        bound._method = None
        if instance is not None and self._attr_name is not None:
            # Cache on the instance (a Tool is a non-data descriptor), so later lookups are free.
            with contextlib.suppress(AttributeError):
                instance.__dict__[self._attr_name] = bound
        return bound

    # -- execution -------------------------------------------------------------------------------

    async def run(
        self,
        input: dict[str, Any],
        ctx: RunContext[Any],
        *,
        raise_errors: bool | None = None,
        max_result_chars: int | None = None,
    ) -> dict[str, Any]:
        """Validate `input`, call the tool, and return the wire `tool_result` block for it.

        `raise_errors` and `max_result_chars` are the run's settings; the tool's own settings,
        when not None, take precedence. The result's `tool_use_id` is `ctx.tool_use_id`.

        Raises:
            UsageError: `ctx.tool_use_id` is not set.
            Exception: whatever the tool raised, only when raise_errors is in effect.
        """
        tool_use_id = ctx.tool_use_id
        if tool_use_id is None:
            raise UsageError(
                f"Tool.run({self.name!r}) needs ctx.tool_use_id (the id of the tool_use block "
                "being answered); set it, e.g. dataclasses.replace(ctx, tool_use_id=block_id)."
            )
        limit = self.max_result_chars or max_result_chars or DEFAULT_MAX_RESULT_CHARS
        arguments, errors = self._validator.validate(input)
        if arguments is None:
            return tool_result(tool_use_id, format_field_errors(self.name, errors), is_error=True)
        try:
            value = await self._invoke(arguments, ctx)
        except ToolError as exc:
            return tool_result(tool_use_id, self._error_content(exc, limit), is_error=True)
        except Exception as exc:
            if isinstance(exc, StoreError) or (
                self.raise_errors if self.raise_errors is not None else raise_errors
            ):
                raise
            return tool_result(tool_use_id, truncate(describe(exc), limit), is_error=True)
        if value is _TIMED_OUT:
            return tool_result(tool_use_id, self._timeout_message(), is_error=True)
        cause: Exception | None = None
        try:
            content = None if (given := to_content(value)) is None else truncate(given, limit)
            checked = check(content)  # sent as it is, it would fail every request after it
        except pydantic_core.PydanticSerializationError as exc:
            why, cause = f"a {type(value).__name__} that cannot be sent as JSON ({exc})", exc
            content, checked = None, Checked(None, (why,))
        if checked is None or not checked.refused:  # (only blank text dropped: no refusal)
            return tool_result(tool_use_id, content if checked is None else checked.content)
        message = (
            f"Tool `{self.name}` returned {said(checked)}. This is a bug in the tool: it should "
            "return a str, JSON-compatible data, a pydantic model, a dataclass or content "
            "blocks the API accepts."
        )
        if self.raise_errors if self.raise_errors is not None else raise_errors:
            raise TypeError(message) from cause
        return tool_result(tool_use_id, checked.content or message, is_error=True)

    async def _invoke(self, arguments: dict[str, Any], ctx: RunContext[Any]) -> Any:
        if self._call_kind == "kwargs":
            if self._context_param is not None:
                arguments[self._context_param] = ctx
            args = [arguments.pop(p) for p in self._positional_only]
            call = functools.partial(self.function, *args, **arguments)
        elif self._call_kind == "input":
            call = functools.partial(self.function, dict(arguments))
        else:
            call = functools.partial(self.function, dict(arguments), ctx)
        if self.timeout is None:
            return await self._call(call)
        import anyio

        with anyio.move_on_after(self.timeout):
            return await self._call(call)
        return _TIMED_OUT

    async def _call(self, call: Callable[[], Any]) -> Any:
        if self._is_async:
            return await call()
        import anyio.to_thread

        value = await anyio.to_thread.run_sync(call, abandon_on_cancel=True)
        if inspect.isawaitable(value):
            value = await value
        return value

    def _error_content(self, exc: ToolError, limit: int) -> Content | None:
        """A `ToolError`'s content as a result's: text or content blocks as given, anything
        else (a dict, a list that is not all blocks) as a returned value is sent, as JSON
        text. Content the API refuses is left out, said in a note (`accepted.check`): sent,
        it would fail every request after it (in a durable run, every resume)."""
        content = cast(object, exc.content)  # typed str | list, but tools pass anything
        if isinstance(content, str):
            return truncate(content, limit) if content else None
        try:
            converted = None if content == [] else to_content(content)
        except pydantic_core.PydanticSerializationError as error:
            return (
                f"Tool `{self.name}` raised ToolError with content that cannot be sent as "
                f"JSON ({type(content).__name__}: {error}). This is a bug in the tool: give "
                "ToolError a str or content blocks."
            )
        converted = None if converted is None else truncate(converted, limit)
        checked = check(converted)
        return converted if checked is None else checked.content

    def _timeout_message(self) -> str:
        """What the model is told of a call its timeout ended. A tool not marked idempotent may
        have had its effect by then (a sync one may still have it: its thread runs on), and a
        model told only to try again would repeat it (under a new idempotency key)."""
        how = "stopped" if self._is_async else "abandoned (its result will be ignored)"
        said = f"Tool `{self.name}` timed out after {self.timeout:g} s and was {how}."
        if not self.idempotent:
            said += (
                " It may or may not have taken effect (it is not marked idempotent): check its "
                "effect before calling it again."
            )
        return f"{said} Try a smaller request or a different approach."


# -- the decorator --------------------------------------------------------------------------------


@overload
def tool(func: Callable[..., Any], /) -> Tool: ...
@overload
def tool(
    *, name: str | None = None, description: str | None = None, **options: Unpack[ToolOptions]
) -> Callable[[Callable[..., Any]], Tool]: ...
def tool(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    **options: Unpack[ToolOptions],
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Turn a function (sync or async) or a method into a `Tool`; use bare or with options.

    The schema comes from the signature, the description from the docstring (or
    `description=`). A parameter annotated `RunContext` receives the run's context instead of
    model input. In a class body put `@tool` outermost (above `@staticmethod`/`@classmethod`);
    a method whose first parameter is `self` binds to the instance it is looked up on.

    `name` defaults to the function's name and `description` to its docstring; the other
    options are `ToolOptions` (each documented on the `Tool` attribute of the same name).

    Raises:
        UsageError: at decoration time, naming the function and parameter, for `*args` or
            `**kwargs`, a missing or unsupported annotation, `bytes`, an invalid name, or no
            description at all.
    """

    def decorate(target: Callable[..., Any]) -> Tool:
        function, method = _unwrap(target)
        label = getattr(function, "__qualname__", None) or repr(function)
        tool_name = name if name is not None else getattr(function, "__name__", "")
        if name is None and not _NAME.match(tool_name):
            raise UsageError(
                f"The name {tool_name!r} of `{label}` is not a valid tool name; pass name=... "
                "to @tool (letters, digits, '_' and '-', at most 64 characters)."
            )
        schema = function_schema(function, skip_first=method is not None, label=label)
        return Tool(
            name=tool_name,
            description=description if description is not None else schema.description,
            function=function,
            validator=schema,
            call_kind="kwargs",
            context_param=schema.context_param,
            positional_only=schema.positional_only,
            method=method,
            **options,
        )

    return decorate if func is None else decorate(func)


def _unwrap(
    target: Callable[..., Any],
) -> tuple[Callable[..., Any], Literal["instance", "class"] | None]:
    if isinstance(target, Tool):
        raise UsageError(f"{target!r} is already a tool; apply @tool once.")
    if isinstance(target, staticmethod | classmethod):
        # The wrapped function's type is erased in both wrappers; it is a plain callable.
        function = cast("Callable[..., Any]", target.__func__)  # pyright: ignore[reportUnknownMemberType]
        return function, "class" if isinstance(target, classmethod) else None
    if inspect.isfunction(target):
        parts = target.__qualname__.split(".")
        first = next(iter(inspect.signature(target).parameters), None)
        if len(parts) >= 2 and parts[-2] != "<locals>" and first == "self":
            return target, "instance"
    return target, None


def _check_options(name: object, label: str, timeout: object, limit: object) -> None:
    # Typed `object`: the values come from keywords and `replace`, unchecked until here.
    if not isinstance(name, str) or not _NAME.match(name):
        raise UsageError(
            f"Tool name {name!r} (for `{label}`) must match ^[a-zA-Z0-9_-]{{1,64}}$: use only "
            "letters, digits, '_' and '-', at most 64 characters."
        )
    if timeout is not None and not (isinstance(timeout, int | float) and timeout > 0):
        raise UsageError(f"timeout={timeout!r} for tool `{name}` must be a positive number of "
                         "seconds, or None for no timeout.")
    if limit is not None and not (isinstance(limit, int) and limit > 0):
        raise UsageError(f"max_result_chars={limit!r} for tool `{name}` must be a positive int, "
                         "or None to use the run's limit.")


def _is_async_callable(function: Callable[..., Any]) -> bool:
    if inspect.iscoroutinefunction(function):
        return True
    call = getattr(function, "__call__", None)  # noqa: B004 (callable objects with async __call__)
    return call is not None and inspect.iscoroutinefunction(call)


def _positional_arity(function: Callable[..., Any]) -> int:
    try:
        params = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return 1
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        return 2
    return sum(p.kind in kinds for p in params)
