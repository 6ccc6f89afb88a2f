"""What a run gives back: `RunResult` (finished or paused) and `AgentRun` (in progress).

Both are views over a `RunState`, the one place a run's data lives.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ._engine import RunState
from ._events import AgentEvent
from ._usage import RunUsage

__all__ = ["AgentRun", "OutputT", "RunResult"]

OutputT = TypeVar("OutputT")


@dataclass(slots=True)
class RunResult(Generic[OutputT]):
    """What a run produced. A view over its `RunState`, which can continue or resume it."""

    state: RunState
    output: OutputT
    """The structured output (with `output_type`), the stop-after tool's input, or the text."""

    @property
    def text(self) -> str:
        """The final answer's text."""
        return self.state.answer

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The whole conversation in wire form; pass it as `history=` to continue it."""
        return self.state.messages

    @property
    def usage(self) -> RunUsage:
        return self.state.usage

    @property
    def stop_reason(self) -> str | None:
        """The model's stop reason, or the framework's (`approval_required`, a limit, …)."""
        return self.state.stop_reason

    @property
    def stop_sequence(self) -> str | None:
        return self.state.stop_sequence

    @property
    def pending_approvals(self) -> list[dict[str, Any]]:
        """The `tool_use` blocks waiting for a decision when the run paused for approval."""
        if self.state.stop_reason != "approval_required":
            return []
        return [c for c in self.state.pending if c["id"] not in self.state.results]


@dataclass(slots=True)
class AgentRun:
    """A run in progress: iterate its events; `result` is set when it finishes.

    `state` is always valid, even after cancellation: that is what to save or resume from.
    """

    state: RunState
    _events: Any = None
    result: RunResult[Any] | None = None

    def __aiter__(self) -> AsyncIterator[AgentEvent]:
        return self._events.__aiter__()
