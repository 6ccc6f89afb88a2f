"""Content blocks built as plain dicts, without the wire models: `tool_result`.

Its own module so that code which only builds blocks (running a tool call) need not load
pydantic's wire models (`wire.py`, ~0.1 s of start-up): `agentkit tools` defines the tools
without them, and a call builds its result with no import on its path. `wire` re-exports it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["tool_result"]


def tool_result(
    tool_use_id: str, content: str | list[dict[str, Any]] | None = None, *, is_error: bool = False
) -> dict[str, Any]:
    """The wire `tool_result` block answering `tool_use_id`, as a plain dict: the one place
    one is made. Empty `content` is left out, and `is_error` is sent only when true."""
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_use_id}
    if content:
        block["content"] = content
    if is_error:
        block["is_error"] = True
    return block
