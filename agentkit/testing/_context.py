"""The fake's context window and server-side context management, done as the API does them.

Owns `ContextEffect` and `apply_context`: for one request, the beta headers the fake knows
(a gateway that does not know a beta answers 400), the API ignoring everything before the
last `compaction` block, the `clear_tool_uses_20250919` / `clear_thinking_20251015` edits
(`applied_edits` reported), `compact_20260112` (a `compaction` block first in the reply,
`usage.iterations`, an optional pause), and the "prompt is too long" 400 over the configured
window. Sizes use the fake's one measure, about four bytes of the JSON body a token, after
the edits (the fake compacts before it checks the window). Placeholder and summary wording
are the fake's own (the API's are undocumented or model-made).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from .._api.jsonbytes import to_json
from .._loop.context.server import (
    BETA_COMPACTION,
    BETA_EDITING,
    CLEAR_THINKING,
    CLEAR_TOOL_USES,
    COMPACT,
)
from .._loop.context.transforms import summarized, trim_tool_results
from ._replies import estimate_tokens
from ._strict import blocks, turns

__all__ = ["CLEARED", "ContextEffect", "apply_context"]

CLEARED = "[cleared by the fake API's context editing]"


@dataclass(slots=True)
class ContextEffect:
    """What context management did to one request, to be reflected in its reply."""

    input_tokens: int
    applied_edits: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
    compaction: dict[str, Any] | None = None
    """The `compaction` block to put first in the reply."""
    compaction_input_tokens: int = 0
    pause: bool = False

    def decorate(self, msg: dict[str, Any]) -> dict[str, Any]:
        """The reply dict as the API would send it after these effects."""
        usage = msg["usage"]
        if self.applied_edits:
            msg["context_management"] = {"applied_edits": self.applied_edits}
        if self.compaction is None:
            return msg
        summary_tokens = estimate_tokens(len(str(self.compaction["content"])))
        squeeze = {"type": "compaction", "input_tokens": self.compaction_input_tokens}
        squeeze["output_tokens"] = summary_tokens
        if self.pause:
            msg["content"] = [self.compaction]
            msg["stop_reason"] = "compaction"
            usage.update(input_tokens=0, output_tokens=0, iterations=[squeeze])
            return msg
        msg["content"] = [self.compaction, *msg["content"]]
        turn = {"type": "message", "input_tokens": usage.get("input_tokens", 0)}
        turn["output_tokens"] = usage.get("output_tokens", 0)
        usage["iterations"] = [squeeze, turn]
        return msg


def _betas(headers: Mapping[str, str]) -> list[str]:
    return [b.strip() for b in headers.get("anthropic-beta", "").split(",") if b.strip()]


def _size(body: Mapping[str, Any], messages: Sequence[Any]) -> int:
    return estimate_tokens(len(to_json({**body, "messages": messages})))


def _seen(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the model sees: the API ignores every block before the last `compaction` block
    holding a summary (a failed one, null `content`, is a no-op)."""
    for i in range(len(messages) - 1, -1, -1):
        content = blocks(messages[i])
        at = [j for j, b in enumerate(content) if summarized(b)]
        if at:
            return [{**messages[i], "content": content[at[-1] :]}, *messages[i + 1 :]]
    return messages


def _value(edit: Mapping[str, Any], key: str, default: int) -> int:
    item = edit.get(key)
    if isinstance(item, Mapping):
        value = cast("Mapping[str, Any]", item).get("value")
        if isinstance(value, int):
            return value
    return default


def _clear_thinking(
    messages: list[dict[str, Any]], keep: object
) -> tuple[list[dict[str, Any]], int]:
    if keep == "all" or (
        isinstance(keep, Mapping) and cast("Mapping[str, Any]", keep).get("type") == "all"
    ):
        return messages, 0
    value = cast("Mapping[str, Any]", keep).get("value", 1) if isinstance(keep, Mapping) else 1
    with_thinking = [
        i
        for i, m in enumerate(messages)
        if m.get("role") == "assistant" and any(b.get("type") == "thinking" for b in blocks(m))
    ]
    drop = set(with_thinking[: max(len(with_thinking) - int(value), 0)])
    out = [
        {**m, "content": [b for b in blocks(m) if b.get("type") != "thinking"]} if i in drop else m
        for i, m in enumerate(messages)
    ]
    return out, len(drop)


def _summary(messages: Sequence[dict[str, Any]]) -> str:
    first = next((b.get("text", "") for m in messages[:1] for b in blocks(m)), "")
    results = sum(1 for m in messages for b in blocks(m) if b.get("type") == "tool_result")
    return (
        f"Summary of the conversation: the task was {str(first)[:200]!r}; "
        f"{len(messages)} messages and {results} tool results so far."
    )


def apply_context(
    body: dict[str, Any],
    headers: Mapping[str, str],
    raw: bytes,
    *,
    window: int | None,
    known_betas: Iterable[str] | None,
) -> ContextEffect | str:
    """The request's context effects, or the API's 400 message when it would reject it."""
    betas = _betas(headers)
    if known_betas is not None:
        known = set(known_betas)
        unknown = [b for b in betas if b not in known]
        if unknown:
            return (
                f"Unexpected value(s) `{', '.join(unknown)}` for the `anthropic-beta` header. "
                "Please consult our documentation at docs.claude.com or try again without "
                "the header."
            )
    managed = body.get("context_management")
    edits: list[dict[str, Any]] = []
    if isinstance(managed, Mapping):
        listed: object = cast("Mapping[str, Any]", managed).get("edits")
        if isinstance(listed, list):
            edits = [
                cast("dict[str, Any]", e)
                for e in cast("list[object]", listed)
                if isinstance(e, dict)
            ]
    messages = turns(body)
    has_block = b'"compaction"' in raw and any(
        b.get("type") == "compaction" for m in messages for b in blocks(m)
    )
    for edit in edits:
        kind = edit.get("type")
        need = BETA_COMPACTION if kind == COMPACT else BETA_EDITING
        if need not in betas:
            return f"context_management.edits: {kind} requires the `anthropic-beta: {need}` header"
    if has_block and BETA_COMPACTION not in betas:
        return "messages: `compaction` is not one of the expected content block types"
    seen = _seen(messages) if has_block else messages
    tokens = _size(body, seen) if (has_block or edits) else estimate_tokens(len(raw))
    effect = ContextEffect(tokens)
    for edit in edits:
        kind = edit.get("type")
        if kind == CLEAR_THINKING:
            cleared_msgs, n = _clear_thinking(seen, edit.get("keep"))
            if n:
                after = _size(body, cleared_msgs)
                effect.applied_edits.append(
                    {
                        "type": kind,
                        "cleared_thinking_turns": n,
                        "cleared_input_tokens": tokens - after,
                    }
                )
                seen, tokens = cleared_msgs, after
        elif kind == CLEAR_TOOL_USES and tokens > _value(edit, "trigger", 100_000):
            exclude = cast("list[str]", edit.get("exclude_tools") or [])
            keep = _value(edit, "keep", 3)
            cleared_msgs, n = trim_tool_results(
                seen, keep=keep, placeholder=CLEARED, exclude=exclude
            )
            after = _size(body, cleared_msgs)
            if n and tokens - after >= _value(edit, "clear_at_least", 0):
                effect.applied_edits.append(
                    {"type": kind, "cleared_tool_uses": n, "cleared_input_tokens": tokens - after}
                )
                seen, tokens = cleared_msgs, after
        elif kind == COMPACT and tokens > _value(edit, "trigger", 150_000):
            block = {"type": "compaction", "content": _summary(seen), "encrypted_content": None}
            effect.compaction = block
            effect.compaction_input_tokens = tokens
            effect.pause = bool(edit.get("pause_after_compaction"))
            seen = [{"role": "assistant", "content": [block]}]
            tokens = _size(body, seen)
    effect.input_tokens = tokens
    if window is not None and tokens > window:
        return f"prompt is too long: {tokens} tokens > {window} maximum"
    return effect
