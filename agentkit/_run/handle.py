"""A run in progress: `AgentRun`, what `Agent.iter` hands the caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._loop.engine import RunState
from .result import RunResult

if TYPE_CHECKING:
    from anyio.abc import ObjectReceiveStream

    from .events import AgentEvent

__all__ = ["AgentRun"]


@dataclass(slots=True)
class AgentRun:
    """A run in progress: iterate its events; `result` is set when it finishes.

    `state` is always valid, even after cancellation: that is what to save or resume from.
    """

    state: RunState
    _events: ObjectReceiveStream[AgentEvent]
    result: RunResult[Any] | None = None

    def __aiter__(self) -> AsyncIterator[AgentEvent]:
        return self._events.__aiter__()
