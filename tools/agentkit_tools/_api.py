"""The agentkit names the ready tools build on, imported in one place.

Owns nothing but this import. Rule: `agentkit_tools` is a consumer of agentkit's public API, like
any third-party package; the fallback to agentkit's private modules only bridges the time before
`agentkit/__init__.py` exports these names, and goes away then.
"""

from __future__ import annotations

try:
    from agentkit import Tool, ToolError, Toolset, UsageError, tool
except ImportError:  # pragma: no cover - until agentkit exports its public names
    from agentkit._errors import ToolError, UsageError  # noqa: I001
    from agentkit._tools import Tool, tool
    from agentkit._toolsets import Toolset

__all__ = ["Tool", "ToolError", "Toolset", "UsageError", "tool"]
