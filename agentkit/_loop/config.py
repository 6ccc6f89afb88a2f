"""`EngineConfig`: the fixed settings of a run, built once by `Agent` and read by the engine."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._errors import UsageError
from .limits import Limits
from .state import RunState
from .thinking import ThinkingPlan

if TYPE_CHECKING:  # a run without a policy does not load the policies
    from .context.policies import ContextPolicy

__all__ = ["EngineConfig", "check_stop_when", "stop_asked"]


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineConfig:
    """The fixed settings of a run (built once by `Agent`)."""

    model: str
    max_tokens: int
    system: str | list[dict[str, Any]] | None = None
    thinking: ThinkingPlan | None = None
    params: Mapping[str, Any] = field(default_factory=dict[str, Any])
    """Other request fields, sent as given (temperature, stop_sequences, metadata, …)."""
    betas: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)
    max_continuations: int = 0
    stop_after_tools: frozenset[str] = frozenset()
    output_tool: dict[str, Any] | None = None
    """The tool definition the model calls to give structured output."""
    parse_output: Callable[[Any], Any] | None = None
    """Validates the output tool's input; raises ValueError with a readable message."""
    output_retries: int = 2
    cache: bool = False
    stop_when: Callable[[RunState], bool] | None = None
    keep_tool_choice: bool = False
    """Send a forced `tool_choice` on every turn, not only until the model calls a tool."""
    server_tools: tuple[dict[str, Any], ...] = ()
    """Server tool definitions, sent as given after each turn's client tools."""
    model_retries: int = 2
    """Retries per model call, whatever failed: a retryable HTTP status, the connection, the
    stream (the client's own retries are off in a run)."""
    approvals: bool = False
    """Whether the driver can ask for approvals during the run (an `approve` callback);
    without, a call that needs one pauses the run (`approval_required`)."""
    context: ContextPolicy | None = None
    """How the run keeps inside the context window (`agentkit.context`); None: it does not."""


_SYNC_ONLY = (
    "stop_when is asked between steps by the engine, which awaits nothing: make it a plain "
    "def reading the state (or a flag an async task sets)"
)


def check_stop_when(stop_when: Callable[[RunState], object] | None) -> None:
    """Refuse an async `stop_when` as the agent is made: its coroutine, never awaited, was
    truthy, so every run ended after its first turn as if asked to.

    Raises:
        UsageError: `stop_when` is an async function."""
    if stop_when is not None and inspect.iscoroutinefunction(stop_when):
        raise UsageError(f"stop_when={stop_when!r} is an async function; {_SYNC_ONLY}")


def stop_asked(stop_when: Callable[[RunState], object], state: RunState) -> bool:
    """Whether `stop_when` ends the run now (None is no).

    Raises:
        TypeError: it returned an awaitable (a lambda or object returning a coroutine), which
            is closed, never run."""
    said = stop_when(state)
    if inspect.isawaitable(said):
        if inspect.iscoroutine(said):
            said.close()  # never awaited: closed, so no warning says it was forgotten
        raise TypeError(f"stop_when returned a {type(said).__name__}, not a bool; {_SYNC_ONLY}")
    return bool(said)
