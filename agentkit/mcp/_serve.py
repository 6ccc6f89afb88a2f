"""`serve`: a toolset's tools as an MCP server, over stdio or streamable HTTP on 127.0.0.1.

Owns the other direction: MCP clients (Claude Desktop, an IDE, another agent) calling agentkit
tools. Rules:
- each `tools/list` asks the toolset for its tools (`tools_for`, as a run's turn does), so
  per-turn hooks and sources (an MCP server's tools, proxied) apply;
- a call runs through `Tool.run` as in a run: input validated, errors and timeouts are
  `isError` results, a cancelled request cancels the tool; its `ctx.idempotency_key` is the
  one an agentkit caller sent in the call's `_meta` (another client's that an HTTP header
  cannot take, encoded: `RunContext.idempotency_key`), else unique to the call;
- tools that require approval are neither listed nor run unless `allow_approval_tools`:
  over MCP nobody is there to approve, and the client's user never saw the question;
- HTTP listens on 127.0.0.1 only (the SDK's DNS-rebinding protection on).
"""

from __future__ import annotations

import json
import logging
import socket
import uuid
from collections.abc import Callable
from typing import Any

import mcp_types as types
from mcp.server import Server
from mcp.server.context import ServerRequestContext
from mcp.server.stdio import stdio_server

from .._errors import UsageError
from .._run.loop import run_loop
from .._tools.content import Content
from .._tools.context import RunContext
from .._tools.tool import Tool
from .._tools.toolset import Toolset
from ._convert import IDEMPOTENCY_META

__all__ = ["serve", "serve_async"]

log = logging.getLogger("agentkit.mcp")


def serve(
    toolset: Toolset,
    *,
    port: int | None = None,
    name: str = "agentkit",
    allow_approval_tools: bool = False,
    deps: object = None,
    on_listening: Callable[[str], object] | None = None,
) -> None:
    """Serve `toolset`'s tools over MCP until stopped: on stdin/stdout, or with `port` over
    streamable HTTP at `http://127.0.0.1:{port}/mcp` (0: a free port). `deps` is every
    call's `ctx.deps`; `on_listening(url)` is called once HTTP accepts connections.

    Raises:
        UsageError: a port that is not a port number.
        OSError: the port is taken.
    """
    run_loop(lambda: serve_async(toolset, port=port, name=name, deps=deps,
                                  allow_approval_tools=allow_approval_tools,
                                  on_listening=on_listening))


async def serve_async(
    toolset: Toolset,
    *,
    port: int | None = None,
    name: str = "agentkit",
    allow_approval_tools: bool = False,
    deps: object = None,
    on_listening: Callable[[str], object] | None = None,
) -> None:
    """`serve` in a running event loop."""
    if port is not None and not 0 <= port <= 65535:
        raise UsageError(f"port={port} is not a TCP port number (0 to 65535)")
    server = mcp_server(toolset, name=name, allow_approval_tools=allow_approval_tools,
                        deps=deps)
    try:
        if port is None:
            async with stdio_server() as (read, write):
                await server.run(read, write, server.create_initialization_options())
            return
        import uvicorn

        with socket.create_server(("127.0.0.1", port)) as listener:
            url = f"http://127.0.0.1:{listener.getsockname()[1]}/mcp"
            log.info("serving MCP on %s", url)
            if on_listening is not None:
                on_listening(url)  # connections wait in the backlog until uvicorn accepts
            app = server.streamable_http_app(host="127.0.0.1")
            config = uvicorn.Config(app, log_level="warning")
            await uvicorn.Server(config).serve(sockets=[listener])
    finally:
        await toolset.aclose()


def mcp_server(
    toolset: Toolset, *, name: str, allow_approval_tools: bool, deps: object
) -> Server[Any]:
    """The SDK's low-level server answering `tools/list` and `tools/call` from `toolset`."""

    async def offered() -> dict[str, Tool]:
        tools = await toolset.tools_for(RunContext(deps=deps))
        return {t.name: t for t in tools if allow_approval_tools or not t.requires_approval}

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[_definition(t) for t in (await offered()).values()])

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        found = (await offered()).get(params.name)
        if found is None:
            return _error(_missing(params.name, await toolset.tools_for(RunContext(deps=deps))))
        run_ctx = RunContext(deps=deps, tool_use_id=_call_id(params), tool_name=params.name)
        block = await found.run(dict(params.arguments or {}), run_ctx)
        return types.CallToolResult(content=_content(block.get("content")),
                                    is_error=bool(block.get("is_error")))

    return Server(name, on_list_tools=list_tools, on_call_tool=call_tool)


def _call_id(params: types.CallToolRequestParams) -> str:
    """The served call's `tool_use_id`, so its `ctx.idempotency_key` (as it is when header-safe,
    as an agentkit caller's always is): the key the caller sent (the same when its durable run
    repeats the call), else one of its own. Never the JSON-RPC request id, which every session
    numbers from the start: two calls of two sessions would share a key, and a service that
    deduplicates by it would drop one."""
    key = (params.meta or {}).get(IDEMPOTENCY_META)
    return key if isinstance(key, str) and key else f"mcp_{uuid.uuid4().hex}"


def _definition(tool: Tool) -> types.Tool:
    hints = types.ToolAnnotations(idempotent_hint=True) if tool.idempotent else None
    return types.Tool(name=tool.name, description=tool.description,
                      input_schema=tool.input_schema, annotations=hints)


def _missing(name: str, every: list[Tool]) -> str:
    if any(t.name == name for t in every):
        return (f"The tool {name!r} needs a person's approval before each call, and none can "
                "be asked over MCP; the server was started without --allow-approval-tools.")
    return f"There is no tool named {name!r} on this server."


def _error(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)],
                                is_error=True)


def _content(content: Content | None) -> list[types.ContentBlock]:
    """A `tool_result`'s content as MCP content: text and images as such, the rest as JSON."""
    if content is None:
        return []
    if isinstance(content, str):
        return [types.TextContent(type="text", text=content)]
    blocks: list[types.ContentBlock] = []
    for block in content:
        source: dict[str, Any] = block.get("source") or {}
        if block.get("type") == "image" and source.get("type") == "base64":
            blocks.append(types.ImageContent(type="image", data=source["data"],
                                             mime_type=source["media_type"]))
        elif block.get("type") == "text":
            blocks.append(types.TextContent(type="text", text=str(block.get("text", ""))))
        else:
            blocks.append(types.TextContent(type="text", text=json.dumps(block)))
    return blocks
