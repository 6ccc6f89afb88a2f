"""Limits on a run, and the named points where they are checked.

A limit never fakes an assistant message: hitting one ends the run with a typed outcome
(`LimitExceeded`, whose `result` keeps the conversation and usage so far). Checks run at two
points: *before a request* (turns, cost and tokens already spent, wall clock) and *after a
batch of tool calls is known* (tool-call count). Token and cost limits can only be seen once
a response has been paid for, so the request after the limit is never sent.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from .._errors import UsageError

if TYPE_CHECKING:
    from .usage import RunUsage

__all__ = ["Limits"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Upper bounds for one run. `None` means unlimited."""

    max_turns: int | None = 50
    """Model requests per run (each `pause_turn` continuation and retry-for-output counts)."""
    max_tool_calls: int | None = None
    """Client tool calls per run."""
    max_input_tokens: int | None = None
    """Prompt tokens summed over requests, cache reads and writes included."""
    max_output_tokens: int | None = None
    """Output tokens (thinking included) summed over requests."""
    max_total_tokens: int | None = None
    max_cost: float | None = None
    """US dollars, from the capability table's prices (unknown prices count as zero)."""
    timeout: float | None = None
    """Wall-clock seconds for the whole run, model calls and tools included."""

    def __post_init__(self) -> None:
        """Raises `UsageError` for a bound that is no number of at least 0 (before any run, so
        a durable one stores nothing)."""
        for f in fields(self):
            value: object = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
                raise UsageError(
                    f"Limits({f.name}={value!r}): give a number of at least 0, or None for no "
                    "limit"
                )

    def before_request(self, turns: int, usage: RunUsage) -> str | None:
        """The name of the limit that forbids another model request, or None."""
        if self.max_turns is not None and turns >= self.max_turns:
            return "max_turns"
        if self.max_input_tokens is not None and usage.total_input_tokens >= self.max_input_tokens:
            return "max_input_tokens"
        if self.max_output_tokens is not None and usage.output_tokens >= self.max_output_tokens:
            return "max_output_tokens"
        if self.max_total_tokens is not None and usage.total_tokens >= self.max_total_tokens:
            return "max_total_tokens"
        if self.max_cost is not None and (usage.cost_usd or 0.0) >= self.max_cost:
            return "max_cost"
        return None

    def before_tools(self, tool_calls_so_far: int, batch: int) -> str | None:
        """The name of the limit that forbids running `batch` more tool calls, or None."""
        if self.max_tool_calls is not None and tool_calls_so_far + batch > self.max_tool_calls:
            return "max_tool_calls"
        return None
