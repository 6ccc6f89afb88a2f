"""What a run tells an observer at its step boundaries, and the no-op when none is set.

`OBSERVER` is None until `agentkit.instrument()` sets one (`agentkit.otel`); every function
here then returns a shared no-op at once, and the driver checks `_Turn.observed is not None`
once per step, so an uninstrumented run imports nothing and pays one attribute check a step.

An `Observer` opens one `RunObserver` per run (`run`), and spans for workflow helpers
(`workflow`, `step`). The driver calls the `RunObserver` where it carries out a step: the model
request as sent (first attempt), each failed attempt, the reply, each tool call (wrapped, so
the tool runs inside the observer's context: a sub-agent's run nests under it), and the calls
the engine answered itself. Under a workflow engine (`Effects`) a model call or tool call is
reported from inside its step, so a recovery that replays the step from its record reports
nothing again. It reports; it never decides or changes what the run does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from .._api.wire import Message
from .._loop.usage import TurnUsage
from .._tools.context import RunContext
from .._tools.tool import Tool

if TYPE_CHECKING:
    from .._api.client import AsyncClient
    from .._loop.engine import Engine
    from .checkpoints import Journal

__all__ = [
    "OBSERVER", "CallTool", "Observer", "RunInfo", "RunObserver", "run", "sent", "step", "workflow",
]

T = TypeVar("T")

CallTool = Callable[[Tool, dict[str, Any], RunContext[Any]], Awaitable[dict[str, Any]]]
"""How the driver runs one call (hooks included) into its `tool_result` block."""


@dataclass(frozen=True, slots=True)
class RunInfo:
    """Who runs: what an observer knows of a run before it starts."""

    agent: str | None
    description: str | None
    model: str
    run_id: str | None


class RunObserver(Protocol):
    """One run, as the driver reports it."""

    traceparent: str | None
    """This run's span as a W3C `traceparent`, kept in a durable run's journal so that a
    resumed run can link to it (None: nothing to keep)."""

    def drive(
        self,
        engine: Engine,
        client: Callable[[], AsyncClient],
        journal: Journal | None,
        loop: Awaitable[T],
    ) -> Awaitable[T]:
        """Await the driver's loop inside the run's context. `client()` is the run's client,
        made when first asked for: ask only when the run calls the model (a run that returns
        a stored result needs no credentials)."""
        ...

    def model_request(self, params: dict[str, Any], stream: bool) -> None:
        """A model call begins: `params` as sent (its retries are part of it)."""
        ...

    def model_sent(self, params: dict[str, Any], stream: bool) -> None:
        """An attempt of a model call is sent by a workflow engine's step (`Effects`), told
        only when the step runs (a replayed one was reported by the execution that ran it):
        the call begins here unless an attempt before it began it."""
        ...

    def model_error(self, error: Exception) -> None:
        """An attempt failed; the engine has decided (a retry, or giving up)."""
        ...

    def model_reply(self, message: Message, usage: TurnUsage) -> None:
        """The call's reply arrived (and was recorded by the engine)."""
        ...

    def tool(self, call_tool: CallTool) -> CallTool:
        """`call_tool`, observed: each call runs inside its own context."""
        ...

    def resolved(self, answered: Sequence[tuple[dict[str, Any], dict[str, Any]]]) -> None:
        """Calls the engine answered without running them: (call, result) pairs."""
        ...


class Observer(Protocol):
    """What `agentkit.instrument()` installs."""

    def run(self, info: RunInfo) -> AbstractAsyncContextManager[RunObserver]: ...

    def workflow(self, name: str) -> AbstractAsyncContextManager[None]: ...

    def step(self, workflow: str, index: int, name: str) -> AbstractAsyncContextManager[None]: ...


OBSERVER: Observer | None = None
"""The installed observer (None: runs are not observed)."""

_NOTHING: nullcontext[None] = nullcontext()


def run(
    agent: str | None, description: str | None, model: str, run_id: str | None
) -> AbstractAsyncContextManager[RunObserver | None]:
    """The observer of a run about to start, or None when nothing observes runs."""
    observer = OBSERVER
    if observer is None:
        return _NOTHING
    return observer.run(RunInfo(agent, description, model, run_id))


def workflow(name: str) -> AbstractAsyncContextManager[None]:
    """A workflow helper's or recipe's span (a no-op when nothing observes)."""
    observer = OBSERVER
    return _NOTHING if observer is None else observer.workflow(name)


def step(workflow: str, index: int, function: object) -> AbstractAsyncContextManager[None]:
    """One step of a workflow helper: `index` from 1, `function` named by its `__name__`."""
    observer = OBSERVER
    if observer is None:
        return _NOTHING
    return observer.step(workflow, index, getattr(function, "__name__", type(function).__name__))


def sent(
    observed: RunObserver | None, params: dict[str, Any], stream: bool,
    send: Callable[[], Awaitable[T]],
) -> Callable[[], Awaitable[T]]:
    """`send` (a model call's attempt, run as a workflow engine's step), telling `observed`
    when it runs: a step replayed from its record does not run, and reports nothing again."""
    if observed is None:
        return send

    def attempt() -> Awaitable[T]:
        observed.model_sent(params, stream)
        return send()

    return attempt
