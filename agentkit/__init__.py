"""agentkit: autonomous agents on the Anthropic Messages API.

Decorate functions with `@tool`, hand them to an `Agent`, and `await agent.run(prompt)`.
The names an agent needs are here; the rest live in public modules named for what they hold:
`agentkit.errors` (every exception), `agentkit.events` (what a run emits),
`agentkit.workflows` (recipes and helpers) and `agentkit.testing` (fakes for tests and
offline runs). Every error class and event stays importable from here too.
"""

import importlib as _importlib
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from ._api.client import AsyncClient, Client
from ._api.ratelimit import RateLimiter
from ._api.wire import Message
from ._durable.sqlite import SQLiteStore
from ._errors import (
    AgentkitError,
    APIError,
    ConversationError,
    LimitExceeded,
    ModelBehaviorError,
    RunError,
    ToolError,
    UsageError,
)
from ._loop.conversation import validate_conversation
from ._loop.engine import RunState
from ._loop.limits import Limits
from ._loop.thinking import FixedBudget, PlanningBudget, ThinkingBudget
from ._loop.usage import RunUsage, TurnUsage
from ._public import present_as as _present_as
from ._run.agent import Agent
from ._run.events import AgentEvent
from ._run.handle import AgentRun
from ._run.hooks import Deny, Hooks
from ._run.options import ModelSettings, ToolExecution
from ._run.result import RunResult
from ._tools.context import RunContext
from ._tools.tool import Tool, tool
from ._tools.toolset import Toolset, ToolSource

if _TYPE_CHECKING:  # what `__getattr__` below serves, spelled out for type checkers
    from opentelemetry.metrics import MeterProvider as _MeterProvider
    from opentelemetry.trace import TracerProvider as _TracerProvider

    from .errors import APIConnectionError as APIConnectionError
    from .errors import APIStatusError as APIStatusError
    from .errors import APIStreamError as APIStreamError
    from .errors import APITimeoutError as APITimeoutError
    from .errors import AuthenticationError as AuthenticationError
    from .errors import BadRequestError as BadRequestError
    from .errors import BillingError as BillingError
    from .errors import ConflictError as ConflictError
    from .errors import IncompleteStreamError as IncompleteStreamError
    from .errors import InternalServerError as InternalServerError
    from .errors import MalformedStreamError as MalformedStreamError
    from .errors import NotFoundError as NotFoundError
    from .errors import OverloadedError as OverloadedError
    from .errors import PermissionDeniedError as PermissionDeniedError
    from .errors import RateLimitError as RateLimitError
    from .errors import RequestTooLargeError as RequestTooLargeError
    from .errors import RunLockedError as RunLockedError
    from .errors import RunMismatchError as RunMismatchError
    from .errors import RunNotFoundError as RunNotFoundError
    from .errors import StoreError as StoreError
    from .errors import StoreFormatError as StoreFormatError
    from .errors import UnprocessableEntityError as UnprocessableEntityError
    from .errors import WorkflowError as WorkflowError
    from .events import ModelRequest as ModelRequest
    from .events import ModelRetry as ModelRetry
    from .events import RunFinished as RunFinished
    from .events import TextChunk as TextChunk
    from .events import ThinkingChunk as ThinkingChunk
    from .events import ToolCallFinished as ToolCallFinished
    from .events import ToolCallStarted as ToolCallStarted
    from .events import ToolInputChunk as ToolInputChunk
    from .events import TurnFinished as TurnFinished
    from .workflows import Recipe as Recipe
    from .workflows import RecipeContext as RecipeContext
    from .workflows import RecipeResult as RecipeResult
    from .workflows import Refinement as Refinement
    from .workflows import Vote as Vote
    from .workflows import chain as chain
    from .workflows import parallel_map as parallel_map
    from .workflows import recipes as recipes
    from .workflows import refine as refine
    from .workflows import run_recipe as run_recipe
    from .workflows import vote as vote

__all__ = [
    "APIError",
    "Agent",
    "AgentEvent",
    "AgentRun",
    "AgentkitError",
    "AsyncClient",
    "Client",
    "ConversationError",
    "Deny",
    "FixedBudget",
    "Hooks",
    "LimitExceeded",
    "Limits",
    "Message",
    "ModelBehaviorError",
    "ModelSettings",
    "PlanningBudget",
    "RateLimiter",
    "RunContext",
    "RunError",
    "RunResult",
    "RunState",
    "RunUsage",
    "SQLiteStore",
    "ThinkingBudget",
    "Tool",
    "ToolError",
    "ToolExecution",
    "ToolSource",
    "Toolset",
    "TurnUsage",
    "UsageError",
    "instrument",
    "tool",
    "validate_conversation",
]

__version__ = "0.1.0"

# Names that moved to a public submodule stay importable from here (users' code imports
# them); they are loaded on first use, so `import agentkit` does not pay for workflows.
_MOVED = {
    "errors": (
        "APIConnectionError APIStatusError APIStreamError APITimeoutError AuthenticationError "
        "BadRequestError BillingError ConflictError IncompleteStreamError InternalServerError "
        "MalformedStreamError NotFoundError OverloadedError PermissionDeniedError "
        "RateLimitError RequestTooLargeError RunLockedError RunMismatchError RunNotFoundError "
        "StoreError StoreFormatError UnprocessableEntityError WorkflowError"
    ),
    "events": (
        "ModelRequest ModelRetry RunFinished TextChunk ThinkingChunk ToolCallFinished "
        "ToolCallStarted ToolInputChunk TurnFinished"
    ),
    "workflows": (
        "Recipe RecipeContext RecipeResult Refinement Vote chain parallel_map recipes refine "
        "run_recipe vote"
    ),
}
_HOME = {name: module for module, names in _MOVED.items() for name in names.split()}


def instrument(
    *,
    tracer_provider: "_TracerProvider | None" = None,
    meter_provider: "_MeterProvider | None" = None,
    capture_content: bool = False,
) -> None:
    """Trace and measure every agent run with OpenTelemetry (the `agentkit[otel]` extra).

    Spans and metrics follow the GenAI semantic conventions (see the README's "OpenTelemetry"
    section); None providers mean the global ones. Message content goes on spans only with
    `capture_content=True` (or `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=SPAN_ONLY`).
    `agentkit.otel.uninstrument()` stops it. Until this is called, agentkit never imports
    OpenTelemetry.

    Raises:
        ImportError: the OpenTelemetry API is not installed (`pip install 'agentkit[otel]'`).
    """
    from .otel import instrument as _instrument  # loaded on call: the extra is optional

    _instrument(
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        capture_content=capture_content,
    )


def __getattr__(name: str) -> _Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'agentkit' has no attribute {name!r}")
    return getattr(_importlib.import_module(f"agentkit.{home}"), name)


_present_as(__name__, __all__, globals())
