"""Fixtures for the ready-tools tests: call a tool through `Tool.run`, as the model would.

`ok` and `refused` are fixtures (not importable helpers) because pytest runs in importlib mode.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from agentkit import RunContext, Tool

Call = Callable[..., Awaitable[str]]


async def _run(tool: Tool | None, input: dict[str, Any]) -> dict[str, Any]:
    assert tool is not None, "no such tool in the toolset"
    ctx: RunContext[None] = RunContext(deps=None, tool_use_id="toolu_test", tool_name=tool.name)
    return await tool.run(input, ctx)


async def _ok(tool: Tool | None, **input: Any) -> str:
    result = await _run(tool, input)
    assert not result.get("is_error"), result.get("content")
    content = result.get("content", "")
    assert isinstance(content, str)
    return content


async def _refused(tool: Tool | None, **input: Any) -> str:
    result = await _run(tool, input)
    assert result.get("is_error") is True, f"expected an error, got: {result.get('content')}"
    content = result.get("content", "")
    assert isinstance(content, str)
    return content


@pytest.fixture
def ok() -> Call:
    """`await ok(tool, **input)`: run the tool, require success, return its text content."""
    return _ok


@pytest.fixture
def refused() -> Call:
    """`await refused(tool, **input)`: run the tool, require `is_error`, return the message."""
    return _refused
