"""The run state handed to tools, hooks and per-turn tool preparation.

Owns `RunContext` and nothing else. Rules: it is a plain dataclass (no validation, built once
per run and cheaply copied per tool call with `dataclasses.replace`); it imports only
`RunUsage` from the layer below, so every layer above can use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .._loop.usage import RunUsage

__all__ = ["DepsT", "RunContext"]

DepsT = TypeVar("DepsT")


@dataclass
class RunContext(Generic[DepsT]):
    """What a tool can see of the run that called it.

    A tool parameter annotated `RunContext` (or `RunContext[MyDeps]`) is left out of the tool's
    schema and receives this object, so tools reach shared resources (`deps`) without globals.
    """

    deps: DepsT
    """The user's dependencies passed to the run (a DB handle, an HTTP client, settings, …)."""

    messages: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
    """The conversation so far, as wire-form message dicts. Read it; don't mutate it."""

    usage: RunUsage = field(default_factory=RunUsage)
    """The run's usage so far (empty in a context made by hand, e.g. in a test)."""

    model: str = ""
    """The model the run talks to."""

    turn: int = 0
    """How many model turns the run has taken so far."""

    tool_use_id: str | None = None
    """The `id` of the `tool_use` block being answered (set for tool calls only)."""

    tool_name: str | None = None
    """The name of the tool being called (set for tool calls only)."""

    run_id: str | None = None
    """The durable run's id (`agent.run(run_id=...)`), None for a run that is not stored."""

    @property
    def idempotency_key(self) -> str | None:
        """A key for this tool call that stays the same when a durable run resumes after a
        crash: `"{run_id}:{tool_use_id}"` (the `tool_use_id` alone outside a durable run). Pass
        it to an API that deduplicates requests, so a repeated call takes effect once."""
        if self.tool_use_id is None or self.run_id is None:
            return self.tool_use_id
        return f"{self.run_id}:{self.tool_use_id}"
