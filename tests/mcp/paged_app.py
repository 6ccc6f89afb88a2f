"""A test MCP server on the SDK's low-level `Server`: 5 tools listed 2 per page (cursors), each
answering with its own name. Serves stdio. With `--bad-refs`, `tool_1` and `tool_3` have
schemas whose `$ref`s cannot be followed (one points at nothing, one off the machine)."""

from __future__ import annotations

import sys

import anyio
import mcp_types as types
from mcp.server import Server
from mcp.server.context import ServerRequestContext
from mcp.server.stdio import stdio_server

NAMES = [f"tool_{i}" for i in range(5)]
PAGE = 2
BAD_REFS = {
    "tool_1": {"type": "object", "properties": {"a": {"$ref": "#/$defs/gone"}}},
    "tool_3": {"type": "object", "properties": {"a": {"$ref": "http://127.0.0.1:9/a.json"}}},
}


async def list_tools(
    ctx: ServerRequestContext, params: types.PaginatedRequestParams | None
) -> types.ListToolsResult:
    start = int(params.cursor) if params is not None and params.cursor else 0
    bad = BAD_REFS if "--bad-refs" in sys.argv else {}
    tools = [types.Tool(name=name, description=f"Say {name}.",
                        input_schema=bad.get(name, {"type": "object", "properties": {}}))
             for name in NAMES[start:start + PAGE]]
    more = start + PAGE < len(NAMES)
    return types.ListToolsResult(tools=tools, next_cursor=str(start + PAGE) if more else None)


async def call_tool(
    ctx: ServerRequestContext, params: types.CallToolRequestParams
) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=params.name)],
                                structured_content={"tool": params.name, "page": PAGE})


server = Server("paged", on_list_tools=list_tools, on_call_tool=call_tool)


async def main() -> None:
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


if __name__ == "__main__":
    anyio.run(main)
