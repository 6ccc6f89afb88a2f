"""The server-side features' wire shapes: what a request asks for, what a reply reports.

Owns the `context_management` edits and their beta headers (`edits_for`), the reading of a
reply's `applied_edits` and `compaction` blocks, the classification of the errors the
context policies act on (`prompt_too_long`, `beta_unknown`), and which models the capability
table gives each edit (`check_supported`). Spelled as
`shared/docs/context.md` gives them; the type names and headers are the API's, kept here once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from ..._errors import APIStatusError, UsageError
from ..capabilities import ModelCaps
from .policies import ContextPolicy, ServerCompaction, ServerEditing

__all__ = [
    "BETA_COMPACTION",
    "BETA_EDITING",
    "applied_edits",
    "beta_unknown",
    "check_supported",
    "clean_compaction",
    "dicts",
    "edits_for",
    "prompt_too_long",
]

BETA_EDITING = "context-management-2025-06-27"
BETA_COMPACTION = "compact-2026-01-12"
CLEAR_TOOL_USES = "clear_tool_uses_20250919"
CLEAR_THINKING = "clear_thinking_20251015"
COMPACT = "compact_20260112"


def edits_for(
    policy: ServerEditing | ServerCompaction, trigger: int
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The request's `context_management` and the beta header it needs."""
    if isinstance(policy, ServerCompaction):
        edit: dict[str, Any] = {
            "type": COMPACT,
            "trigger": {"type": "input_tokens", "value": trigger},
            "pause_after_compaction": policy.pause_after_compaction,
        }
        if policy.instructions is not None:
            edit["instructions"] = policy.instructions
        return {"edits": [edit]}, (BETA_COMPACTION,)
    edits: list[dict[str, Any]] = []
    keep = policy.keep_thinking_turns
    if keep is not None:
        edits.append(
            {
                "type": CLEAR_THINKING,
                "keep": "all" if keep == "all" else {"type": "thinking_turns", "value": keep},
            }
        )
    clear: dict[str, Any] = {
        "type": CLEAR_TOOL_USES,
        "trigger": {"type": "input_tokens", "value": trigger},
        "keep": {"type": "tool_uses", "value": policy.keep_tool_uses},
    }
    if policy.clear_at_least is not None:
        clear["clear_at_least"] = {"type": "input_tokens", "value": policy.clear_at_least}
    if policy.exclude_tools:
        clear["exclude_tools"] = list(policy.exclude_tools)
    if policy.clear_tool_inputs:
        clear["clear_tool_inputs"] = True
    edits.append(clear)
    return {"edits": edits}, (BETA_EDITING,)


def check_supported(policy: ContextPolicy, model: str, caps: ModelCaps | None) -> None:
    """A server-side policy the capability table says the model lacks is refused when the
    agent is made, not met as a 400 on the run's first request (`Auto` picks for itself;
    a model the table does not know gets the policy as given).

    Raises:
        UsageError: naming the edit the model lacks and the policies that work on it.
    """
    if caps is None or caps.context_management is None:
        return
    if isinstance(policy, ServerCompaction):
        needed = [COMPACT]
    elif isinstance(policy, ServerEditing):
        needed = [CLEAR_TOOL_USES]
        if policy.keep_thinking_turns is not None:
            needed.append(CLEAR_THINKING)
    else:
        return
    missing = [edit for edit in needed if edit not in caps.context_management]
    if missing:
        raise UsageError(
            f"{type(policy).__name__}() needs the server edit {', '.join(missing)}, which "
            f"{model} does not support (the capability table): use Auto() (the server side "
            "where the model supports it, else client-side Compaction), Compaction() or Trim()"
        )


def applied_edits(extra: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The `context_management.applied_edits` of a reply (its extra fields), or none."""
    if not extra:
        return []
    managed = extra.get("context_management")
    if not isinstance(managed, Mapping):
        return []
    return dicts(cast("Mapping[str, Any]", managed).get("applied_edits"))


def dicts(value: object) -> list[dict[str, Any]]:
    """The objects of a JSON list (copies), or none when `value` is not a list."""
    if not isinstance(value, list):
        return []
    items = cast("list[object]", value)
    return [dict(cast("Mapping[str, Any]", i)) for i in items if isinstance(i, Mapping)]


def clean_compaction(content: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]] | None:
    """A reply's content with its `compaction` blocks ready to send back (null optional
    fields left out, as the SDKs send them; `content` kept even when null, a failed summary),
    or None when it has no `compaction` block."""
    if not any(b.get("type") == "compaction" for b in content):
        return None
    out: list[dict[str, Any]] = []
    for block in content:
        if block.get("type") == "compaction":
            block = {k: v for k, v in block.items() if v is not None or k == "content"}
        out.append(dict(block))
    return out


def prompt_too_long(error: Exception) -> bool:
    """Whether `error` is the API's 400 for a prompt larger than the context window."""
    return (
        isinstance(error, APIStatusError)
        and error.status_code in (400, 413)
        and "prompt is too long" in str(getattr(error, "message", "")).lower()
    )


def beta_unknown(error: Exception, betas: Sequence[str]) -> bool:
    """Whether `error` says the API or a gateway does not know the context betas (a 400
    naming the header, the beta, `context_management` or the `compaction` block)."""
    if not isinstance(error, APIStatusError) or error.status_code not in (400, 404, 422):
        return False
    text = str(error.message)
    return (
        "anthropic-beta" in text
        or any(beta in text for beta in betas)
        or "context_management" in text
        or "`compaction`" in text
    )


def overflow_error(error: Exception, *, policy: bool) -> Exception:
    """The context-window 400 reworded to say what to do: set a context policy, or (one
    was set and its retry did not fit either) lower its trigger."""
    if not isinstance(error, APIStatusError):
        return error
    if policy:
        advice = (
            "the context policy compacted the conversation and retried once, and it still did "
            "not fit: lower its trigger_tokens, or keep fewer turns"
        )
    else:
        advice = (
            "the conversation no longer fits the model's context window: pass "
            "Agent(..., context=Auto()) (or Compaction(), Trim(), ServerCompaction(), "
            "ServerEditing() from agentkit.context) to keep long runs inside it"
        )
    reworded = type(error)(
        f"{error.message}; {advice}",
        status_code=error.status_code,
        body=error.body,
        request_id=error.request_id,
        error_type=error.error_type,
        retry_after=error.retry_after,
        should_retry=error.should_retry,
    )
    reworded.__cause__ = error
    return reworded
