"""`EngineConfig`: the fixed settings of a run, built once by `Agent` and read by the engine."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .limits import Limits
from .state import RunState
from .thinking import ThinkingPlan

if TYPE_CHECKING:  # a run without a policy does not load the policies
    from .context.policies import ContextPolicy

__all__ = ["EngineConfig"]


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
