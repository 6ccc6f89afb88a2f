"""Prompt-cache breakpoints: where `Agent(cache=True)` puts `cache_control`, within the limit.

The API rejects a request with more than four `cache_control` breakpoints, counted over the
whole request: the tools, the system prompt, every message's blocks (blocks inside a
`tool_result` too) and a top-level `cache_control`, the user's own included.
`place_breakpoints` counts them all and adds only what fits: the latest turn first (it caches
the most), then the last tool, then the system prompt. The stored conversation is never
modified: what it marks are copies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

__all__ = ["MAX_BREAKPOINTS", "count_breakpoints", "place_breakpoints"]

MAX_BREAKPOINTS = 4
"""The most `cache_control` breakpoints one request may carry."""

_EPHEMERAL = {"type": "ephemeral"}
_UNMARKABLE = frozenset({"thinking", "redacted_thinking"})


def place_breakpoints(
    messages: list[dict[str, Any]],
    system: str | list[dict[str, Any]] | None,
    tools: list[dict[str, Any]],
    *,
    used: int = 0,
) -> tuple[list[dict[str, Any]], str | list[dict[str, Any]] | None, list[dict[str, Any]]]:
    """Copies of the request's parts with `cache_control` added where it fits.

    `used` counts breakpoints elsewhere in the request (a top-level `cache_control`).
    """
    used += count_breakpoints(messages) + count_breakpoints(tools)
    if isinstance(system, list):
        used += count_breakpoints(system)
    budget = MAX_BREAKPOINTS - used
    if budget > 0 and messages:
        last = messages[-1]
        content = last["content"]
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        if content and _unmarked(content[-1]) and content[-1].get("type") not in _UNMARKABLE:
            content = [*content[:-1], {**content[-1], "cache_control": _EPHEMERAL}]
            messages = [*messages[:-1], {**last, "content": content}]
            budget -= 1
    if budget > 0 and tools and _unmarked(tools[-1]):
        tools = [*tools[:-1], {**tools[-1], "cache_control": _EPHEMERAL}]
        budget -= 1
    if budget > 0 and system:
        blocks = [{"type": "text", "text": system}] if isinstance(system, str) else system
        if _unmarked(blocks[-1]):
            system = [*blocks[:-1], {**blocks[-1], "cache_control": _EPHEMERAL}]
    return messages, system, tools


def count_breakpoints(items: Sequence[Mapping[str, Any]]) -> int:
    """The `cache_control` marks on `items` (tools, system blocks or messages) and on every
    block they hold, nested `tool_result` content included."""
    n = 0
    for item in items:
        if not _unmarked(item):
            n += 1
        content: object = item.get("content")
        if isinstance(content, list):
            n += count_breakpoints(_dicts(cast("list[object]", content)))
    return n


def _unmarked(item: Mapping[str, Any]) -> bool:
    return item.get("cache_control") is None


def _dicts(items: list[object]) -> list[dict[str, Any]]:
    return [cast("dict[str, Any]", b) for b in items if isinstance(b, dict)]
