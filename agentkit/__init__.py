"""agentkit: autonomous agents on the Anthropic Messages API.

Decorate functions with `@tool`, hand them to an `Agent`, and `await agent.run(prompt)`.
The names an agent needs are here; the rest live in public modules named for what they hold:
`agentkit.errors` (every exception), `agentkit.events` (what a run emits),
`agentkit.workflows` (recipes and helpers) and `agentkit.testing` (fakes for tests and
offline runs). Every error class and event stays importable from here too.
"""

import importlib as _importlib
import sys as _sys
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from ._api.httpx_cli import defer as _defer_httpx_cli
from ._errors import (  # cheap (no dependencies): loaded now, so they present as agentkit.X
    AgentkitError,
    APIError,
    ConversationError,
    LimitExceeded,
    ModelBehaviorError,
    RunError,
    ToolError,
    UsageError,
)
from ._public import present_as as _present_as

_defer_httpx_cli()  # httpx's command line costs a cold start ~50 ms; loaded if it is used

if _TYPE_CHECKING:  # what `__getattr__` below serves, spelled out for type checkers
    from opentelemetry.metrics import MeterProvider as _MeterProvider
    from opentelemetry.trace import TracerProvider as _TracerProvider

    from ._api.client import AsyncClient as AsyncClient
    from ._api.client import Client as Client
    from ._api.ratelimit import RateLimiter as RateLimiter
    from ._api.wire import Message as Message
    from ._durable.sqlite import SQLiteStore as SQLiteStore
    from ._loop.conversation import validate_conversation as validate_conversation
    from ._loop.engine import RunState as RunState
    from ._loop.limits import Limits as Limits
    from ._loop.thinking import FixedBudget as FixedBudget
    from ._loop.thinking import PlanningBudget as PlanningBudget
    from ._loop.thinking import ThinkingBudget as ThinkingBudget
    from ._loop.usage import RunUsage as RunUsage
    from ._loop.usage import TurnUsage as TurnUsage
    from ._run.agent import Agent as Agent
    from ._run.events import AgentEvent as AgentEvent
    from ._run.handle import AgentRun as AgentRun
    from ._run.hooks import Deny as Deny
    from ._run.hooks import Hooks as Hooks
    from ._run.options import ModelSettings as ModelSettings
    from ._run.options import ToolExecution as ToolExecution
    from ._run.result import RunResult as RunResult
    from ._tools.context import RunContext as RunContext
    from ._tools.tool import Tool as Tool
    from ._tools.tool import tool as tool
    from ._tools.toolset import Toolset as Toolset
    from ._tools.toolset import ToolSource as ToolSource
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

# The other names are loaded on first use (PEP 562), so `import agentkit` costs almost nothing
# until a name is used: the command line's `--help` never loads httpx, pydantic or aiohttp
# (`benchmarks/startup.py`; `tests/test_startup.py` checks it). The names of `__all__` live in
# private modules and are presented as `agentkit.X`; names that moved to a public submodule
# stay importable from here (users' code imports them), and so do the workflow names.
_PRIVATE = {
    "_api.client": "AsyncClient Client",
    "_api.ratelimit": "RateLimiter",
    "_api.wire": "Message",
    "_durable.sqlite": "SQLiteStore",
    "_loop.conversation": "validate_conversation",
    "_loop.engine": "RunState",
    "_loop.limits": "Limits",
    "_loop.thinking": "FixedBudget PlanningBudget ThinkingBudget",
    "_loop.usage": "RunUsage TurnUsage",
    "_run.agent": "Agent",
    "_run.events": "AgentEvent",
    "_run.handle": "AgentRun",
    "_run.hooks": "Deny Hooks",
    "_run.options": "ModelSettings ToolExecution",
    "_run.result": "RunResult",
    "_tools.context": "RunContext",
    "_tools.tool": "Tool tool",
    "_tools.toolset": "Toolset ToolSource",
}
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
_HOME = {
    name: module
    for table in (_PRIVATE, _MOVED)
    for module, names in table.items()
    for name in names.split()
}


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
    value = getattr(_importlib.import_module(f"agentkit.{home}"), name)
    if home in _PRIVATE:  # a name of `__all__`: the next lookup is a plain global
        _present_loaded()
        globals()[name] = value
    return value


def _present_loaded() -> None:
    """Present every name of `__all__` whose private module is loaded as `agentkit.X` (as an
    eager import of them all did), without loading any other."""
    loaded = {
        name: getattr(module, name)
        for home, names in _PRIVATE.items()
        if (module := _sys.modules.get(f"agentkit.{home}")) is not None
        for name in names.split()
    }
    _present_as(__name__, loaded, loaded)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


_present_as(__name__, [n for n in __all__ if n in globals()], globals())
