"""The public surface, pinned: every public module's `__all__`, sorted, complete, presented
as the module users import from, and the names kept importable from `agentkit` for old code."""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest

import agentkit

SURFACE: dict[str, list[str]] = {
    "agentkit": [
        "APIError", "Agent", "AgentEvent", "AgentRun", "AgentkitError", "AsyncClient", "Client",
        "ConversationError", "Deny", "FixedBudget", "Hooks", "LimitExceeded", "Limits",
        "Message", "ModelBehaviorError", "ModelSettings", "PlanningBudget", "RateLimiter",
        "RunContext",
        "RunError", "RunResult", "RunState", "RunUsage", "SQLiteStore", "ThinkingBudget",
        "Tool", "ToolError", "ToolExecution", "ToolSource", "Toolset", "TurnUsage", "UsageError",
        "instrument", "tool", "validate_conversation",
    ],
    "agentkit.otel": ["SEMCONV", "instrument", "uninstrument"],
    "agentkit.errors": [
        "APIConnectionError", "APIError", "APIStatusError", "APIStreamError", "APITimeoutError",
        "AgentkitError", "AuthenticationError", "BadRequestError", "BillingError",
        "ConflictError", "ConversationError", "IncompleteStreamError", "InternalServerError",
        "LimitExceeded", "MalformedStreamError", "ModelBehaviorError", "NotFoundError",
        "OverloadedError", "PermissionDeniedError", "RateLimitError", "RequestTooLargeError",
        "ResultsWriteError", "RunError", "RunLockedError", "RunMismatchError", "RunNotFoundError",
        "StoreError",
        "StoreFormatError", "ToolError", "UnprocessableEntityError", "UsageError", "WorkflowError",
    ],
    "agentkit.events": [
        "AgentEvent", "ContextEdited", "ModelRequest", "ModelRetry", "RunFinished", "TextChunk",
        "ThinkingChunk", "ToolCallFinished", "ToolCallStarted", "ToolInputChunk",
        "TurnFinished",
    ],
    "agentkit.workflows": [
        "BatchProgress", "BatchReport", "DurableRunner", "Engine", "FunctionRunner",
        "ItemRunner", "LocalEngine", "RayEngine", "Recipe", "RecipeContext", "RecipeResult",
        "RecipeRunner",
        "Refinement", "Vote", "WorkflowError", "chain", "parallel_map", "read_jsonl",
        "recipes", "refine", "run_batch", "run_recipe", "vote",
    ],
    "agentkit.testing": [
        "Cassette", "CassetteError", "FakeClock", "FakeServer", "Fault", "FunctionModel",
        "Matcher", "RateLimit", "RecordedRequest", "ScriptError",
        "ScriptedTransport", "Step", "echo_model", "last_user_text", "message_to_sse", "reply",
        "text_reply", "tool_model", "tool_reply", "tool_results", "with_faults",
    ],
    "agentkit.cli": ["main"],
    "agentkit.context": ["Auto", "Compaction", "ServerCompaction", "ServerEditing", "Trim"],
    "agentkit.mcp": ["MCPConnectionError", "MCPToolset", "serve", "serve_async"],
}

# Added to `agentkit.workflows` after the move: importable from there only.
BATCH = {
    "BatchProgress", "BatchReport", "DurableRunner", "Engine", "FunctionRunner", "ItemRunner",
    "LocalEngine", "RayEngine", "RecipeRunner", "read_jsonl", "run_batch",
}

# Importable from `agentkit` as before the public modules existed (users' code relies on it).
KEPT_AT_TOP = [
    *[n for n in SURFACE["agentkit.errors"] if n != "ResultsWriteError"],  # newer than the move
    *[n for n in SURFACE["agentkit.events"] if n != "ContextEdited"],  # newer than the move
    *[n for n in SURFACE["agentkit.workflows"] if n != "WorkflowError" and n not in BATCH],
]


def _module(name: str) -> ModuleType:
    return importlib.import_module(name)


@pytest.mark.parametrize("name", sorted(SURFACE))
def test_each_public_module_exports_exactly_its_pinned_names(name: str) -> None:
    module = _module(name)
    assert module.__all__ == sorted(module.__all__)
    assert module.__all__ == sorted(SURFACE[name])
    assert [n for n in module.__all__ if not hasattr(module, n)] == []


@pytest.mark.parametrize("name", sorted(SURFACE))
def test_public_classes_and_functions_present_themselves_as_a_public_module(name: str) -> None:
    module = _module(name)
    private = [
        f"{n}: {getattr(module, n).__module__}"
        for n in module.__all__
        if isinstance(getattr(module, n), type | type(agentkit.tool))
        and getattr(module, n).__module__.split(".")[-1].startswith("_")
    ]
    assert private == []


def test_the_top_level_is_small_and_shows_only_its_names_and_public_modules() -> None:
    assert len(agentkit.__all__) <= 36  # what an agent needs: ~30 names, and no more
    public = {n for n in dir(agentkit) if not n.startswith("_")}
    modules = {"cli", "context", "dbos", "errors", "events", "mcp", "otel", "testing", "workflows"}
    assert public - set(agentkit.__all__) - modules == set()


@pytest.mark.parametrize("name", KEPT_AT_TOP)
def test_names_that_moved_to_a_public_module_still_import_from_agentkit(name: str) -> None:
    home = next(m for m in ("errors", "events", "workflows") if name in SURFACE[f"agentkit.{m}"])
    assert getattr(agentkit, name) is getattr(_module(f"agentkit.{home}"), name)


def test_an_unknown_name_is_an_attribute_error_naming_it() -> None:
    with pytest.raises(AttributeError, match="'NoSuchThing'"):
        agentkit.NoSuchThing  # noqa: B018


def test_runcontext_is_constructible_as_users_build_it_in_tests() -> None:
    ctx = agentkit.RunContext(deps={"user": "ada"}, tool_use_id="toolu_1")
    assert ctx.deps == {"user": "ada"} and ctx.tool_use_id == "toolu_1"
