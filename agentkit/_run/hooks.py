"""Hooks around model requests and tool calls, and `Deny`, the answer that refuses a call.

Hooks and approval callbacks may be sync or async; `maybe_await` is how the driver calls them.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .._api.wire import Message
from .._tools.context import RunContext

__all__ = ["Approve", "Deny", "Hooks", "MaybeAwaitable", "maybe_await"]

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
