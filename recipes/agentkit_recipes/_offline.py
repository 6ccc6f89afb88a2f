"""Shared pieces of the recipes' scripted models (offline only; no recipe logic lives here).

Owns small readers of a Messages request body and a builder for typed answers. Rule: a
scripted model reacts to what it is sent (system prompt, user text, tool results, tool list),
like the real model would, so the recipe's real code and tools run end to end.
"""

from __future__ import annotations

from typing import Any

from agentkit import Message
from agentkit.testing import reply

__all__ = ["OUTPUT_TOOL", "answer_with", "system_text", "tool_names", "tool_texts"]

OUTPUT_TOOL = "final_result"
"""The tool an agent with `output_type=` offers for its typed answer."""


def system_text(body: dict[str, Any]) -> str:
    """The request's system prompt as one string."""
    system = body.get("system") or ""
    if isinstance(system, list):
        return "".join(block.get("text", "") for block in system)
    return str(system)


def tool_names(body: dict[str, Any]) -> set[str]:
    """The names of the tools the request offers."""
    return {tool["name"] for tool in body.get("tools") or ()}


def tool_texts(body: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """Every tool call so far with its result: `(tool name, result text, is_error)`."""
    names: dict[str, str] = {}
    found: list[tuple[str, str, bool]] = []
    for turn in body.get("messages") or ():
        content = turn.get("content")
        if not isinstance(content, list):
            continue
        for block in content:
            if block.get("type") == "tool_use":
                names[block["id"]] = block["name"]
            elif block.get("type") == "tool_result":
                result = block.get("content")
                if isinstance(result, list):
                    result = "".join(b.get("text", "") for b in result if isinstance(b, dict))
                name = names.get(block.get("tool_use_id", ""), "?")
                found.append((name, str(result or ""), bool(block.get("is_error"))))
    return found


def answer_with(body: dict[str, Any], output: dict[str, Any]) -> Message:
    """Give a typed answer by calling the output tool, as the model does with `output_type=`.

    Raises:
        ValueError: the request offers no output tool (the recipe asked for no typed answer).
    """
    if OUTPUT_TOOL not in tool_names(body):
        raise ValueError(f"the request offers no {OUTPUT_TOOL!r} tool for a typed answer")
    return reply(tool_calls=[(OUTPUT_TOOL, output)])
