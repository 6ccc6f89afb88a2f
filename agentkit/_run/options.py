"""The less common `Agent` options, grouped: `ModelSettings` (what else goes in each request)
and `ToolExecution` (how tool calls are run). Frozen, typed, and checked when made, so a bad
value fails where it is written, with a `UsageError` naming the option.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .._errors import UsageError

__all__ = ["ModelSettings", "ToolExecution"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelSettings:
    """Request fields beyond model, messages, system, tools and thinking, sent as given."""

    temperature: float | None = None
    """0.0 to 1.0 (the API's default is 1.0)."""
    top_p: float | None = None
    top_k: int | None = None
    stop_sequences: Sequence[str] = ()
    """A reply that hits one stops with `stop_reason` `stop_sequence`."""
    tool_choice: Mapping[str, Any] | None = None
    """`{"type": "auto" | "any" | "tool" | "none", ...}`. A forced choice (`any`, `tool`) is
    sent until the model has called a tool in the run, then `auto` (see
    `tool_choice_after_tools`), so a model that obeys it can still answer."""
    tool_choice_after_tools: Literal["auto", "keep"] = "auto"
    """What a forced `tool_choice` becomes once the model has called a tool: `"auto"` (its
    `disable_parallel_tool_use` kept), or `"keep"` to force a tool call on every turn (the run
    then ends only by a limit, `stop_after_tools` or `stop_when`)."""
    metadata: Mapping[str, Any] | None = None
    """`{"user_id": ...}`: an opaque id, no personal data."""
    betas: Sequence[str] = ()
    """`anthropic-beta` values sent with every request."""
    extra_params: Mapping[str, Any] = field(default_factory=dict[str, Any])
    """Other request fields, sent as given (named fields above win). Not `tools`: the agent
    builds the tool list each turn, server tools included (give those in `Agent(tools=)`)."""
    interleaved_thinking: bool = False
    """Think between tool calls (adds the beta header where the model needs it)."""

    def __post_init__(self) -> None:
        for name, value in (("temperature", self.temperature), ("top_p", self.top_p)):
            if value is not None and not 0.0 <= value <= 1.0:
                raise UsageError(f"ModelSettings {name} must be between 0.0 and 1.0, got {value}")
        if self.top_k is not None and self.top_k < 1:
            raise UsageError(f"ModelSettings top_k must be at least 1, got {self.top_k}")
        if "tools" in self.extra_params:
            # Merging would give tools two homes; replacing them loses the client tools.
            raise UsageError(
                "ModelSettings extra_params cannot set 'tools': the agent builds the tool list "
                "each turn. Pass server tool definitions in Agent(tools=[...]) next to your "
                "tools, e.g. tools=[my_tool, {'type': 'web_search_20250305', 'name': "
                "'web_search'}]."
            )
        if self.tool_choice_after_tools not in ("auto", "keep"):
            raise UsageError(
                "ModelSettings tool_choice_after_tools must be 'auto' or 'keep', got "
                f"{self.tool_choice_after_tools!r}"
            )
        for name, items in (("stop_sequences", self.stop_sequences), ("betas", self.betas)):
            if isinstance(items, str):
                raise UsageError(f"ModelSettings {name} takes a list of strings, not one string")

    def params(self) -> dict[str, Any]:
        """The request fields these settings add."""
        params: dict[str, Any] = dict(self.extra_params)
        for key, value in (
            ("temperature", self.temperature),
            ("top_p", self.top_p),
            ("top_k", self.top_k),
            ("stop_sequences", list(self.stop_sequences) or None),
            ("tool_choice", dict(self.tool_choice) if self.tool_choice is not None else None),
            ("metadata", dict(self.metadata) if self.metadata is not None else None),
        ):
            if value is not None:
                params[key] = value
        return params


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolExecution:
    """How the agent runs the tool calls of one turn."""

    max_concurrency: int = 16
    """At most this many calls of one turn run at once."""
    raise_errors: bool = False
    """Re-raise a tool's exception (the run fails with `RunError`) instead of sending it to
    the model as an `is_error` result, for tools that set no `raise_errors=` of their own."""
    max_result_chars: int | None = None
    """Cut longer tool results, for tools that set no limit of their own."""

    def __post_init__(self) -> None:
        if self.max_concurrency < 1:
            raise UsageError(
                f"ToolExecution max_concurrency must be at least 1, got {self.max_concurrency}"
            )
        if self.max_result_chars is not None and self.max_result_chars < 1:
            raise UsageError(
                "ToolExecution max_result_chars must be at least 1 (or None for the default), "
                f"got {self.max_result_chars}"
            )
