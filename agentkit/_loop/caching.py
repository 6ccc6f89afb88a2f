"""Prompt-cache breakpoints: where `Agent(cache=True)` puts `cache_control`, within the limit.

The API rejects a request with more than four `cache_control` breakpoints, counted over the
whole request: the tools, the system prompt, every message's blocks (blocks inside a
`tool_result` too) and a top-level `cache_control`, the user's own included.
`place_breakpoints` counts them all and adds only what fits: the latest turn first (it caches
the most; left to a top-level `cache_control`, which marks it), then the last tool, then the
system prompt. The API also rejects a `ttl="1h"` breakpoint after a 5-minute one, in the
order tools, system, messages (a top-level one last): a breakpoint placed before a user's 1h
one is 1h too (`ttl_order_error` says what breaks the rule). The stored conversation is
never modified: what it marks are copies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

__all__ = ["MAX_BREAKPOINTS", "count_breakpoints", "place_breakpoints", "ttl_order_error"]

MAX_BREAKPOINTS = 4
"""The most `cache_control` breakpoints one request may carry."""

_EPHEMERAL = {"type": "ephemeral"}
_HOUR = {"type": "ephemeral", "ttl": "1h"}
_UNMARKABLE = frozenset({"thinking", "redacted_thinking"})


def place_breakpoints(
    messages: list[dict[str, Any]],
    system: str | list[dict[str, Any]] | None,
    tools: list[dict[str, Any]],
    *,
    top: Mapping[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], str | list[dict[str, Any]] | None, list[dict[str, Any]]]:
    """Copies of the request's parts with `cache_control` added where it fits.

    `top` is the request's top-level `cache_control`, if any: a breakpoint of its own, on
    the last block.
    """
    used = count_breakpoints(messages) + count_breakpoints(tools) + int(top is not None)
    if isinstance(system, list):
        used += count_breakpoints(system)
    budget = MAX_BREAKPOINTS - used
    # A placed breakpoint lasts an hour when one after it (the user's) does.
    hour = _has_hour(messages) or (top is not None and _ttl(top) == "1h")
    if budget > 0 and messages and top is None:
        last = messages[-1]
        content = last["content"]
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        if content and _unmarked(content[-1]) and content[-1].get("type") not in _UNMARKABLE:
            content = [*content[:-1], {**content[-1], "cache_control": _EPHEMERAL}]
            messages = [*messages[:-1], {**last, "content": content}]
            budget -= 1
    system_hour = isinstance(system, list) and _has_hour(system)
    if budget > 0 and tools and _unmarked(tools[-1]):
        mark = _HOUR if hour or system_hour else _EPHEMERAL
        tools = [*tools[:-1], {**tools[-1], "cache_control": mark}]
        budget -= 1
    if budget > 0 and system:
        blocks = [{"type": "text", "text": system}] if isinstance(system, str) else system
        if _unmarked(blocks[-1]):
            mark = _HOUR if hour else _EPHEMERAL
            system = [*blocks[:-1], {**blocks[-1], "cache_control": mark}]
    return messages, system, tools


def ttl_order_error(request: Mapping[str, Any]) -> str | None:
    """Where a request puts a 1-hour breakpoint after a 5-minute one, as the API words it
    (tools, then system, then messages, then a top-level `cache_control`), or None."""
    short = False
    for part in ("tools", "system", "messages"):
        items = request.get(part)
        if not isinstance(items, list):
            continue
        for path, mark in _marks(_dicts(cast("list[object]", items)), part):
            if _ttl(mark) == "1h" and short:
                return (
                    f"{path}.cache_control.ttl: a ttl='1h' cache_control block must not come "
                    "after a ttl='5m' cache_control block. Note that blocks are processed in "
                    "the following order: `tools`, `system`, `messages`."
                )
            short = short or _ttl(mark) == "5m"
    top = request.get("cache_control")
    if isinstance(top, Mapping) and short and _ttl(cast("Mapping[str, Any]", top)) == "1h":
        return "cache_control.ttl: a ttl='1h' cache_control must not come after a ttl='5m' one."
    return None


def _marks(items: list[dict[str, Any]], path: str) -> list[tuple[str, Mapping[str, Any]]]:
    """Each `cache_control` among `items` and the blocks they hold, in request order."""
    found: list[tuple[str, Mapping[str, Any]]] = []
    for i, item in enumerate(items):
        content: object = item.get("content")
        if isinstance(content, list):
            nested = _dicts(cast("list[object]", content))
            found += _marks(nested, f"{path}.{i}.content")
        mark = item.get("cache_control")
        if isinstance(mark, Mapping):
            found.append((f"{path}.{i}", cast("Mapping[str, Any]", mark)))
    return found


def _ttl(mark: Mapping[str, Any]) -> str:
    return "1h" if mark.get("ttl") == "1h" else "5m"


def _has_hour(items: Sequence[Mapping[str, Any]]) -> bool:
    return any(_ttl(mark) == "1h" for _, mark in _marks(_dicts(list(items)), ""))


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
