"""What a finished or paused run gives back: `RunResult`.

It is a view over a `RunState`, the one place a run's data lives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic

from typing_extensions import TypeVar

from .._loop.engine import RunState
from .._loop.usage import RunUsage

__all__ = ["OutputT", "RunResult"]

OutputT = TypeVar("OutputT", default=str)
"""What a run's `output` is: the `output_type` given to `Agent`, else the answer's text."""


@dataclass(slots=True)
class RunResult(Generic[OutputT]):
    """What a run produced. A view over its `RunState`, which can continue or resume it."""

    state: RunState
    output: OutputT
    """The validated output (with `output_type`), else the answer's text. Cases the type
    does not show yet: a stop-after tool's input (a dict); with `output_type`, the text so far
    when the run paused for approval or ended by a refusal or `stop_when`."""

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
        """The `tool_use` blocks waiting for a decision when the run paused for approval
        (calls made next to them that need none are not listed: they run on resume)."""
        s = self.state
        if s.stop_reason != "approval_required":
            return []
        waiting = set(s.awaiting_approval)
        return [c for c in s.pending if c["id"] in waiting and c["id"] not in s.decisions]
