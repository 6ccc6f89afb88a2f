"""Helpers for the ready-tools tests: find a tool in a toolset and call it as the model would.

Imported by the test modules beside it (`from toolkit_helpers import ...`); pytest puts this
folder on `sys.path` because `tests/` has no `__init__.py`.
"""

from __future__ import annotations

from typing import Any

try:
    from agentkit import RunContext, Tool, ToolError, Toolset, UsageError
except ImportError:  # until agentkit/__init__.py exports its public names
    from agentkit._context import RunContext
    from agentkit._errors import ToolError, UsageError
    from agentkit._tools import Tool
    from agentkit._toolsets import Toolset


__all__ = [
    "Tool",
    "ToolError",
    "Toolset",
    "UsageError",
    "call",
    "get_tool",
    "ok",
    "refused",
    "tools_of",
]


def tools_of(toolset: Toolset) -> dict[str, Tool]:
    """The toolset's tools by name."""
    return {t.name: t for t in toolset}


def get_tool(toolset: Toolset, name: str) -> Tool:
    """The tool called `name` in `toolset`."""
    found = toolset.get(name)
    assert found is not None, f"no tool {name!r} in {toolset!r}"
    return found


async def call(tool: Tool, **input: Any) -> dict[str, Any]:
    """Run `tool` through `Tool.run`, so validation and the result are what the model gets."""
    ctx: RunContext[None] = RunContext(deps=None, tool_use_id="toolu_test", tool_name=tool.name)
    return await tool.run(input, ctx)


async def ok(tool: Tool, **input: Any) -> str:
    """Call the tool, require success, and return its text content."""
    result = await call(tool, **input)
    assert not result.get("is_error"), result.get("content")
    content = result.get("content", "")
    assert isinstance(content, str)
    return content


async def refused(tool: Tool, **input: Any) -> str:
    """Call the tool, require an `is_error` result, and return its message."""
    result = await call(tool, **input)
    assert result.get("is_error") is True, f"expected an error, got: {result.get('content')}"
    content = result.get("content", "")
    assert isinstance(content, str)
    return content
