"""The steps the engine asks a driver to carry out, and what a driver needs to know of a tool.

A step is an instruction, never a question: the driver does it and reports what happened
(`Engine.on_tools`, `on_request`, `on_reply`, `on_model_error`, `on_count`, `on_result`,
`on_decisions`, `on_timeout`). Each waiting step is bounded by `Engine.deadline`; the engine
alone decides what happens when it passes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .state import RunState

__all__ = [
    "CallModel",
    "CountTokens",
    "Finished",
    "ListTools",
    "NeedApproval",
    "RunTools",
    "Sleep",
    "Step",
    "ToolInfo",
]


class ToolInfo(Protocol):
    """What the engine needs to know of a tool (an `agentkit.Tool` satisfies it)."""

    name: str
    requires_approval: bool

    def to_param(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class ListTools:
    """Get the tools offered on model turn `turn` (0-based: replies before it) and report
    them with `on_tools`; the engine keeps them with that turn."""

    turn: int


@dataclass(frozen=True, slots=True)
class CallModel:
    """Send `params` as a Messages request, with `betas` as `anthropic-beta` values.

    `attempt` 0 is the first send: run the `before_model` hook on `params`, then hand the
    result to `on_request`, which checks it. A retry (`attempt` > 0) carries the params that
    were checked on the first send: send them as they are.
    """

    params: dict[str, Any]
    betas: tuple[str, ...]
    attempt: int = 0


@dataclass(frozen=True, slots=True)
class CountTokens:
    """Ask `count_tokens` for the size of `params` (a request near the context policy's
    trigger) and report it with `on_count` (None when the count failed)."""

    params: dict[str, Any]
    betas: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Sleep:
    """Wait `seconds` (the back-off before retry `attempt` of the model call), then ask again.
    `error` is the failure being retried, for the `ModelRetry` event."""

    seconds: float
    attempt: int
    error: Exception


@dataclass(frozen=True, slots=True)
class RunTools:
    """Run these `tool_use` blocks with `tools` (the ones offered on the turn that made the
    calls), concurrently where allowed; report each result with `on_result`."""

    calls: tuple[dict[str, Any], ...]
    tools: Mapping[str, ToolInfo]
    then_model: bool = True
    """The model is asked once they are answered, as far as is known before they run (a
    timeout, a failing tool or `stop_when` may still end the run): a driver that makes its
    client lazily makes it first, so none of them runs when the request after them cannot."""


@dataclass(frozen=True, slots=True)
class NeedApproval:
    """These calls need a decision before they run; report with `on_decisions`."""

    calls: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class Finished:
    """The run is over or paused; `state.stop_reason` says why and `state.limit` names a limit
    hit. `error` is the model-call failure the run gave up on (the run is then resumable)."""

    state: RunState
    error: Exception | None = None


Step = ListTools | CallModel | CountTokens | Sleep | RunTools | NeedApproval | Finished
