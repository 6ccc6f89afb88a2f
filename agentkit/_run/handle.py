"""A run in progress: `AgentRun`, what `Agent.iter` hands the caller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio

from .._loop.engine import RunState
from .result import RunResult

if TYPE_CHECKING:
    from anyio.abc import ObjectReceiveStream

    from .events import AgentEvent

__all__ = ["AgentRun"]


@dataclass(slots=True)
class AgentRun:
    """A run in progress: iterate its events; `result` is set when it finishes.

    A run that fails raises its error from the iteration once every event it sent before has
    been read (a consumer slower than the run misses none of them), and from the block.

    `state` is always valid, even after cancellation: that is what to save or resume from.
    """

    state: RunState
    _events: ObjectReceiveStream[AgentEvent]
    _failure: list[Exception]
    """What the run raised, if it failed (`Agent.iter` adds it): raised after its last event."""
    result: RunResult[Any] | None = None

    def __aiter__(self) -> AgentRun:
        return self

    async def __anext__(self) -> AgentEvent:
        try:
            return await self._events.receive()
        except anyio.EndOfStream:
            pass
        if self._failure:
            raise self._failure[0]
        raise StopAsyncIteration

