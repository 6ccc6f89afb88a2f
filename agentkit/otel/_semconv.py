"""The GenAI semantic conventions agentkit follows: names, values, buckets, as local constants.

The version followed is `SEMCONV`: OpenTelemetry semantic conventions v1.41.0 (the last
release that holds GenAI), with the one rename made since on semantic-conventions-genai `main`
(`gen_ai.usage.cache_write.input_tokens`, formerly `cache_creation`). Everything GenAI is
still "Development"; the Python semconv package marks these names deprecated ("moved"), so
they are spelled here rather than imported. Plain data and pure functions: no OpenTelemetry
import, so the mapping rules are testable without it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = [
    "CAPTURE_ENV",
    "DURATION_BUCKETS",
    "SEMCONV",
    "TOKEN_BUCKETS",
    "capture_from_env",
    "error_type",
    "finish_reason",
]

SEMCONV = "1.41.0+genai-main-2026-09 (cache_write)"
"""Which GenAI semantic conventions the spans and metrics follow (see the docstring)."""

PROVIDER = "anthropic"

# Attributes
OPERATION = "gen_ai.operation.name"
PROVIDER_NAME = "gen_ai.provider.name"
REQUEST_MODEL = "gen_ai.request.model"
REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
REQUEST_STREAM = "gen_ai.request.stream"
REQUEST_STOP_SEQUENCES = "gen_ai.request.stop_sequences"
REQUEST_SAMPLING = {
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "top_k": "gen_ai.request.top_k",
}
RESPONSE_ID = "gen_ai.response.id"
RESPONSE_MODEL = "gen_ai.response.model"
FINISH_REASONS = "gen_ai.response.finish_reasons"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
CACHE_READ_TOKENS = "gen_ai.usage.cache_read.input_tokens"
CACHE_WRITE_TOKENS = "gen_ai.usage.cache_write.input_tokens"
AGENT_NAME = "gen_ai.agent.name"
AGENT_DESCRIPTION = "gen_ai.agent.description"
CONVERSATION_ID = "gen_ai.conversation.id"
TOOL_NAME = "gen_ai.tool.name"
TOOL_CALL_ID = "gen_ai.tool.call.id"
TOOL_TYPE = "gen_ai.tool.type"
TOOL_DESCRIPTION = "gen_ai.tool.description"
TOOL_ARGUMENTS = "gen_ai.tool.call.arguments"
TOOL_RESULT = "gen_ai.tool.call.result"
TOOL_DEFINITIONS = "gen_ai.tool.definitions"
WORKFLOW_NAME = "gen_ai.workflow.name"
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
TOKEN_TYPE = "gen_ai.token.type"
ERROR_TYPE = "error.type"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
# agentkit's own (no convention covers them)
STOP_REASON = "anthropic.message.stop_reason"
"""The raw `stop_reason`, as the Anthropic SDK names it."""
RETRIES = "agentkit.model.retries"
RUN_TURNS = "agentkit.run.turns"
RUN_TOOL_CALLS = "agentkit.run.tool_calls"
RUN_COST = "agentkit.run.cost_usd"
RUN_STOP_REASON = "agentkit.run.stop_reason"
RUN_LIMIT = "agentkit.run.limit"
STEP_INDEX = "agentkit.workflow.step"
STEP_NAME = "agentkit.workflow.step.name"

# Metrics
TOKEN_USAGE = "gen_ai.client.token.usage"
OPERATION_DURATION = "gen_ai.client.operation.duration"
TOKEN_BUCKETS = tuple(float(4**n) for n in range(14))
"""1, 4, 16, ... 67108864: the convention's advisory buckets for token counts."""
DURATION_BUCKETS = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92
)
"""0.01, 0.02, ... 81.92 seconds: the convention's advisory buckets for durations."""

CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
_CAPTURE_ON = frozenset({"span_only", "span_and_event", "true"})

_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_call",
    "failed": "error",  # a run's own: the engine gave up on the model or user code failed
}


def capture_from_env(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the environment asks for message content on spans: `SPAN_ONLY` or
    `SPAN_AND_EVENT` (util-genai's values, any case), or `true` (the older instrumentations')."""
    return environ.get(CAPTURE_ENV, "").strip().lower() in _CAPTURE_ON


def finish_reason(stop_reason: str | None) -> str:
    """The convention's finish reason for an Anthropic `stop_reason` or a run's (`failed`:
    `error`); others pass through."""
    if stop_reason is None:
        return "error"
    return _FINISH.get(stop_reason, stop_reason)


def error_type(error: BaseException) -> str:
    """`error.type` for a failure: the API's own error type when it gave one (e.g.
    `overloaded_error`), else the exception's qualified class name (builtins unqualified)."""
    given = getattr(error, "error_type", None)
    if isinstance(given, str) and given:
        return given
    kind = type(error)
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"
