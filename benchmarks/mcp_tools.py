"""MCP tools: what connecting costs, and what one call costs over stdio and streamable HTTP.

Prints a table; never fails on a number. The servers are real: `mcp_server_time` (PyPI) over
stdio, and `agentkit mcp serve --tools clock` over streamable HTTP on 127.0.0.1 (its port
picked by the server and read from its stderr). A call is `Tool.run` end to end (validation,
the request, the result as `tool_result` content); the in-process `current_datetime` tool is
the baseline. CPU is this process's (`time.process_time`), the servers' is not counted.

    .venv/bin/python benchmarks/mcp_tools.py            # ~30 s
    .venv/bin/python benchmarks/mcp_tools.py --calls 50 # quicker
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from typing import Any

import anyio
from agentkit_tools import current_datetime

from agentkit import RunContext, Tool
from agentkit.mcp import MCPToolset

CTX = RunContext(deps=None, tool_use_id="toolu_bench")


async def per_call(tool: Tool, input: dict[str, Any], calls: int) -> tuple[float, float]:
    """Wall and CPU microseconds per call, over `calls` sequential calls."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        block = await tool.run(dict(input), CTX)
        if block.get("is_error"):
            raise RuntimeError(f"{tool.name} failed: {block['content']}")
    n = calls or 1
    return ((time.perf_counter() - wall) / n * 1e6, (time.process_time() - cpu) / n * 1e6)


async def measure(server: MCPToolset, name: str, input: dict[str, Any], calls: int,
                  connects: int) -> dict[str, float]:
    opened: list[float] = []
    for _ in range(connects):
        start = time.perf_counter()
        tools = {t.name: t for t in await server.list_tools()}
        opened.append(time.perf_counter() - start)
        await server.aclose()
    tools = {t.name: t for t in await server.list_tools()}
    await per_call(tools[name], input, min(calls, 10))  # warm up
    wall, cpu = await per_call(tools[name], input, calls)
    await server.aclose()
    return {"connect_ms": statistics.median(opened) * 1e3, "wall_us": wall, "cpu_us": cpu}


async def main(calls: int, connects: int) -> None:
    rows: list[tuple[str, dict[str, float]]] = []
    base_wall, base_cpu = await per_call(current_datetime, {"timezone": "UTC"}, calls)
    rows.append(("in-process tool", {"connect_ms": 0.0, "wall_us": base_wall,
                                     "cpu_us": base_cpu}))
    stdio = MCPToolset.stdio(sys.executable, ["-m", "mcp_server_time",
                                              "--local-timezone", "UTC"])
    rows.append(("stdio (mcp_server_time)", await measure(
        stdio, "get_current_time", {"timezone": "UTC"}, calls, connects)))
    process = subprocess.Popen(
        [sys.executable, "-m", "agentkit", "mcp", "serve", "--tools", "clock", "--http", "0"],
        stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        url = process.stderr.readline().split()[-1]
        http = MCPToolset.http(url)
        rows.append(("streamable HTTP (agentkit mcp serve)", await measure(
            http, "current_datetime", {"timezone": "UTC"}, calls, connects)))
    finally:
        process.terminate()
        process.wait(30)
    print(f"{'transport':<38} {'connect+list ms':>16} {'wall us/call':>13} {'CPU us/call':>12}")
    for label, row in rows:
        print(f"{label:<38} {row['connect_ms']:>16.0f} {row['wall_us']:>13.0f} "
              f"{row['cpu_us']:>12.0f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="calls per transport")
    parser.add_argument("--connects", type=int, default=3, help="connections timed")
    args = parser.parse_args()
    anyio.run(main, args.calls, args.connects)
