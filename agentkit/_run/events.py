"""Typed events a run emits, in order, while it works (`Agent.iter`).

Per model turn: `ModelRequest`, then `TextChunk`/`ThinkingChunk`/`ToolCallStarted`/
`ToolInputChunk` as content arrives (many with `stream=True`; otherwise one per block, once
the whole reply is recorded, in a durable run committed), then `TurnFinished`; `ModelRetry`
when a failed reply is re-issued. Per tool call `ToolCallFinished`; `ContextEdited` when a
context policy changed what the model sees; finally `RunFinished`. Events are plain frozen
dataclasses: cheap to make, and safe to hand to user code. Each carries its run's `run_id`
(the durable run id, or one made for the run), set by the driver as it sends it, so a
consumer shared by parallel runs (a display) can tell them apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._api.wire import Message
    from .._loop.usage import TurnUsage
    from .result import RunResult

__all__ = [
    "AgentEvent",
    "ContextEdited",
    "ModelRequest",
    "ModelRetry",
    "RunFinished",
    "TextChunk",
    "ThinkingChunk",
    "ToolCallFinished",
    "ToolCallStarted",
    "ToolInputChunk",
    "TurnFinished",
]


@dataclass(frozen=True, slots=True)
class ModelRequest:
    """A model request is about to be sent (after hooks ran)."""

    turn: int
    params: dict[str, Any]
    run_id: str = field(default="", kw_only=True, compare=False)
    """The run that sent it ("" until the driver sends it): parallel runs share consumers."""


@dataclass(frozen=True, slots=True)
class ModelRetry:
    """The reply to `turn` failed mid-way (`error`) and the request is re-issued.

    Chunks already emitted for that turn belong to the dropped attempt: a display should
    discard them.
    """

    turn: int
    attempt: int
    error: Exception
    run_id: str = field(default="", kw_only=True, compare=False)
    """The run that sent it ("" until the driver sends it): parallel runs share consumers."""


@dataclass(frozen=True, slots=True)
class TextChunk:
    """Answer text as it arrives."""

    turn: int
    text: str
    run_id: str = field(default="", kw_only=True, compare=False)
    """The run that sent it ("" until the driver sends it): parallel runs share consumers."""


@dataclass(frozen=True, slots=True)
class ThinkingChunk:
    """Thinking text as it arrives (empty when the model omits it)."""

    turn: int
    thinking: str
    run_id: str = field(default="", kw_only=True, compare=False)
    """The run that sent it ("" until the driver sends it): parallel runs share consumers."""


@dataclass(frozen=True, slots=True)
class ToolCallStarted:
    """The model began a tool call. `input` is None while it is still streaming."""

    turn: int
    id: str
    name: str
    input: dict[str, Any] | None
    run_id: str = field(default="", kw_only=True, compare=False)
    """The run that sent it ("" until the driver sends it): parallel runs share consumers."""


@dataclass(frozen=True, slots=True)
class ToolInputChunk:
    """A piece of a streaming tool call's JSON input."""

    turn: int
    id: str
    partial_json: str
    run_id: str = field(default="", kw_only=True, compare=False)
    """The run that sent it ("" until the driver sends it): parallel runs share consumers."""


@dataclass(frozen=True, slots=True)
class ToolCallFinished:
    """A tool call finished; `result` is the wire `tool_result` block sent to the model."""

    turn: int
    id: str
    name: str
    input: dict[str, Any]
    result: dict[str, Any]
    run_id: str = field(default="", kw_only=True, compare=False)
    """The run that sent it ("" until the driver sends it): parallel runs share consumers."""

    @property
    def is_error(self) -> bool:
        return bool(self.result.get("is_error"))


@dataclass(frozen=True, slots=True)
class TurnFinished:
    """A model reply is complete and recorded."""

    turn: int
    message: Message
    usage: TurnUsage | None
    run_id: str = field(default="", kw_only=True, compare=False)
    """The run that sent it ("" until the driver sends it): parallel runs share consumers."""


@dataclass(frozen=True, slots=True)
class ContextEdited:
    """A context policy (`Agent(context=...)`) changed what the model sees.

    `kind`: `trim` (old tool results cleared), `compaction` (older turns summarized by a
    model call), `server_edits` (the API's `applied_edits`), `server_compaction` (the API
    summarized), `overflow` (the window was exceeded: compact and retry once) or `fallback`
    (the server feature is unknown here: the client side takes over). Token counts are
    estimates or the API's, None when unknown; `details` holds the rest (the summary, the
    applied edits, `usage.iterations`).
    """

    turn: int
    kind: str
    tokens_before: int | None
    tokens_after: int | None
    details: dict[str, Any]
    run_id: str = field(default="", kw_only=True, compare=False)
    """The run that sent it ("" until the driver sends it): parallel runs share consumers."""


@dataclass(frozen=True, slots=True)
class RunFinished:
    """The run ended; `result` is what `Agent.run` returns."""

    result: RunResult[Any]
    run_id: str = field(default="", kw_only=True, compare=False)
    """The run that sent it ("" until the driver sends it): parallel runs share consumers."""


AgentEvent = (
    ModelRequest
    | ModelRetry
    | TextChunk
    | ThinkingChunk
    | ToolCallStarted
    | ToolInputChunk
    | ToolCallFinished
    | TurnFinished
    | ContextEdited
    | RunFinished
)
