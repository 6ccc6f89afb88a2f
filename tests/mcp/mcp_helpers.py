"""What the MCP tests share: the test servers (written with the official SDK, in this folder)
over stdio, streamable HTTP and SSE on 127.0.0.1, and a `RunContext` for calling tools."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio

from agentkit import RunContext, Tool
from agentkit.mcp import MCPToolset

HERE = Path(__file__).resolve().parent
APP = HERE / "mcp_app.py"
PAGED = HERE / "paged_app.py"


def stdio_app(**options: Any) -> MCPToolset:
    """The test server (`mcp_app.py`) as a subprocess on stdio."""
    return MCPToolset.stdio(sys.executable, [str(APP)], **options)


def call_ctx(call_id: str = "toolu_1") -> RunContext[Any]:
    return RunContext(deps=None, tool_use_id=call_id)


def start(flag: str, port: int = 0) -> tuple[subprocess.Popen[str], str]:
    """The test server over HTTP (`--http`) or SSE (`--sse`) in a subprocess, listening on
    `port` (0: a free one); the process and its URL."""
    process = subprocess.Popen([sys.executable, str(APP), flag, str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()  # printed once it listens
    assert line.startswith("port "), f"the test server did not start: {line!r}"
    path = "/mcp" if flag == "--http" else "/sse"
    return process, f"http://127.0.0.1:{int(line.split()[1])}{path}"


def serve(flag: str) -> Iterator[str]:
    """The test server over HTTP (`--http`) or SSE (`--sse`) in a subprocess; its URL."""
    process, url = start(flag)
    try:
        yield url
    finally:
        process.terminate()
        process.wait(30)
        if process.stdout is not None:
            process.stdout.close()


async def time_out_on_the_server(tools: dict[str, Tool]) -> tuple[Any, Any, Any]:
    """Call the test server's `wait_forever` with a 2 s timeout, checking meanwhile that the
    server got it; the `wait_started`, timed-out and `seen_cancellations` results."""
    waiting = tools["wait_forever"].replace(timeout=2)
    answers: list[Any] = []

    async def call() -> None:
        answers.append(await waiting.run({}, call_ctx()))

    async with anyio.create_task_group() as tg:
        tg.start_soon(call)
        started = await tools["wait_started"].run({"timeout": 30}, call_ctx("toolu_2"))
    seen = await tools["seen_cancellations"].run({"timeout": 30}, call_ctx("toolu_3"))
    return started["content"], answers[0], seen["content"]
