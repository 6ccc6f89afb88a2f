"""agentkit: autonomous agents on the Anthropic Messages API.

Decorate functions with `@tool`, hand them to an `Agent`, and `await agent.run(prompt)`.
Fakes for tests and offline runs live in `agentkit.testing`.
"""

import contextlib as _contextlib

from ._client import AsyncClient, Client
from ._context import RunContext
from ._conversation import validate_conversation
from ._engine import RunState
from ._errors import (
    AgentkitError,
    APIConnectionError,
    APIError,
    APIStatusError,
    APIStreamError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConversationError,
    IncompleteStreamError,
    InternalServerError,
    LimitExceeded,
    MalformedStreamError,
    ModelBehaviorError,
    NotFoundError,
    OverloadedError,
    RateLimitError,
    RunError,
    ToolError,
    UsageError,
    WorkflowError,
)
from ._events import (
    AgentEvent,
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
from ._hooks import Deny, Hooks
from ._recipe import Recipe, RecipeContext, RecipeResult, recipes, run_recipe
from ._result import AgentRun, RunResult
from ._run import Agent
from ._stop import Limits
from ._thinking import FixedBudget, PlanningBudget, ThinkingBudget
from ._tools import Tool, tool
from ._toolsets import Toolset
from ._usage import RunUsage, TurnUsage
from ._wire import Message
from ._workflow import Refinement, Vote, chain, parallel_map, refine, vote

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APIStreamError",
    "APITimeoutError",
    "Agent",
    "AgentEvent",
    "AgentRun",
    "AgentkitError",
    "AsyncClient",
    "AuthenticationError",
    "BadRequestError",
    "Client",
    "ConversationError",
    "Deny",
    "FixedBudget",
    "Hooks",
    "IncompleteStreamError",
    "InternalServerError",
    "LimitExceeded",
    "Limits",
    "MalformedStreamError",
    "Message",
    "ModelBehaviorError",
    "ModelRequest",
    "ModelRetry",
    "NotFoundError",
    "OverloadedError",
    "PlanningBudget",
    "RateLimitError",
    "Recipe",
    "RecipeContext",
    "RecipeResult",
    "Refinement",
    "RunContext",
    "RunError",
    "RunFinished",
    "RunResult",
    "RunState",
    "RunUsage",
    "TextChunk",
    "ThinkingBudget",
    "ThinkingChunk",
    "Tool",
    "ToolCallFinished",
    "ToolCallStarted",
    "ToolError",
    "ToolInputChunk",
    "Toolset",
    "TurnFinished",
    "TurnUsage",
    "UsageError",
    "Vote",
    "WorkflowError",
    "chain",
    "parallel_map",
    "recipes",
    "refine",
    "run_recipe",
    "tool",
    "validate_conversation",
    "vote",
]

__version__ = "0.1.0"

for _name in __all__:
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith("agentkit._"):
        with _contextlib.suppress(AttributeError, TypeError):
            _obj.__module__ = "agentkit"
del _name, _obj
