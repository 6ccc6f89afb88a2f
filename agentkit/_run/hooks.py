"""Hooks around model requests and tool calls, and `Deny`, the answer that refuses a call.

Hooks and approval callbacks may be sync or async; `maybe_await` is how the driver calls them.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from .._api.wire import Message
from .._tools.context import RunContext

__all__ = ["Approve", "Deny", "Hooks", "MaybeAwaitable", "call_before_model", "maybe_await"]

T = TypeVar("T")

MaybeAwaitable = T | Awaitable[T]
"""A value, or an awaitable of it: hooks may be sync or async."""


@dataclass(frozen=True, slots=True)
class Deny:
    """Returned by a `before_tool` hook (or an approval callback) to refuse a call.

    The model receives an `is_error` result carrying `reason`, and the run goes on.
    """

    reason: str = "the call was denied"


Approve = Callable[[RunContext[Any], dict[str, Any]], MaybeAwaitable[bool | str | Deny | None]]
"""`approve(ctx, call)`: True runs the call; False, a reason or a `Deny` refuses it; None
leaves it for later (the run pauses, as with no callback: `result.pending_approvals`)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Hooks:
    """Callbacks around each model request and each tool call; each may be sync or async.

    - `before_model(ctx, params) -> dict | None`: inspect or replace the request body.
    - `after_model(ctx, message) -> None`: inspect each reply; one it raises on (or is
      cancelled on) is held, not lost (`RunState.held`), and checked again when the run is
      given again.
    - `before_tool(ctx, call) -> dict | Deny | None`: replace the input, deny, or let be.
    - `after_tool(ctx, call, result) -> dict | None`: replace the `tool_result` block (given
      as the model would get it; a replacement's content the API refuses is left out, said).
    """

    before_model: (
        Callable[[RunContext[Any], dict[str, Any]], MaybeAwaitable[dict[str, Any] | None]] | None
    ) = None
    after_model: Callable[[RunContext[Any], Message], MaybeAwaitable[object]] | None = None
    before_tool: (
        Callable[[RunContext[Any], dict[str, Any]], MaybeAwaitable[dict[str, Any] | Deny | None]]
        | None
    ) = None
    after_tool: (
        Callable[
            [RunContext[Any], dict[str, Any], dict[str, Any]], MaybeAwaitable[dict[str, Any] | None]
        ]
        | None
    ) = None


async def maybe_await(value: MaybeAwaitable[T]) -> T:
    """`value`, awaited first if it is awaitable."""
    if inspect.isawaitable(value):
        return await value
    return value


async def call_before_model(
    hook: Callable[[RunContext[Any], dict[str, Any]], MaybeAwaitable[dict[str, Any] | None]],
    ctx: RunContext[Any],
    params: dict[str, Any],
) -> dict[str, Any]:
    """The request body `hook` leaves: the one it returned, or `params` for None (or `{}`).

    Raises:
        TypeError: it returned anything else (False meant "do not send" and sent it; a str
            failed with "'str' object has no attribute 'get'"), naming the hook."""
    answer = cast(object, await maybe_await(hook(ctx, params)))
    if answer is None:
        return params
    if isinstance(answer, dict):
        return cast("dict[str, Any]", answer) or params
    name = getattr(hook, "__qualname__", None) or type(hook).__name__
    raise TypeError(
        f"the before_model hook {name} returned a {type(answer).__name__}: return a dict to "
        "replace the request body, or None to send it as it is (raise to stop the run). "
        "Nothing was sent"
    )
