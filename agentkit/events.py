"""The events a run emits while it works (`Agent.iter`, `run(on_event=...)`), in order:
`ModelRequest`, then `TextChunk` / `ThinkingChunk` / `ToolCallStarted` / `ToolInputChunk` as
the reply arrives, `ModelRetry` when a call is re-issued, `TurnFinished`, `ToolCallFinished`
per call, `ContextEdited` when a context policy changed what the model sees, and `RunFinished`
last.
"""

from ._public import present_as
from ._run.events import (
    AgentEvent,
    ContextEdited,
    ModelRequest,
    ModelRetry,
    RunFinished,
    TextChunk,
    ThinkingChunk,
    ToolCallFinished,
    ToolCallStarted,
    ToolInputChunk,
    TurnFinished,
)

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

present_as(__name__, __all__, globals())
