"""Keeping long runs inside the context window: the policies `Agent(context=...)` takes.

- `ServerEditing`: the API clears old tool results (and thinking) from what the model sees.
- `ServerCompaction`: the API summarizes the conversation past a threshold.
- `Compaction`: the run summarizes older turns itself, by a model call (any model, gateway).
- `Trim`: the run replaces old tool results with a short placeholder.
- `Auto`: server compaction where the model supports it, client compaction otherwise.

Every policy takes `trigger_tokens=` (default: a share of the model's context window).
"""

from ._loop.context.policies import Auto, Compaction, ServerCompaction, ServerEditing, Trim
from ._public import present_as

__all__ = ["Auto", "Compaction", "ServerCompaction", "ServerEditing", "Trim"]

present_as(__name__, __all__, globals())
