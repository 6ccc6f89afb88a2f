"""agentkit and the Model Context Protocol: any MCP server's tools in an agent, and any
toolset served over MCP. Needs the extra: `pip install "agentkit[mcp]"`.

- `MCPToolset.stdio(...)`, `.http(...)`, `.sse(...)`: a server's tools as a `Toolset`.
- `serve(toolset)`: a toolset's tools as an MCP server (stdio, or streamable HTTP on
  127.0.0.1); `agentkit mcp serve --tools ...` does it for the ready tools.
"""

from __future__ import annotations

import importlib

try:
    importlib.import_module("mcp")
except ModuleNotFoundError as exc:  # the extra is missing: say what to do
    if exc.name != "mcp":
        raise
    raise ModuleNotFoundError('agentkit.mcp needs the MCP SDK: pip install "agentkit[mcp]"',
                              name="mcp") from exc

from .._public import present_as
from ._connection import MCPConnectionError
from ._serve import serve, serve_async
from ._toolset import MCPToolset

__all__ = ["MCPConnectionError", "MCPToolset", "serve", "serve_async"]

present_as(__name__, __all__, globals())
