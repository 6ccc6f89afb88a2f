"""A test MCP server written with the official SDK (`MCPServer`): one tool per behaviour the
client must handle. Run it as `python mcp_app.py` (stdio), `--http` or `--sse` (on 127.0.0.1,
a free port, or the port given after the flag, printed as `port N` on stdout once it listens).
"""

from __future__ import annotations

import os
import socket
import sys
from typing import Any

import anyio
import mcp_types as types
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.utilities.types import Image

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d4944415478da63f8ffff3f0005fe02fea7d6a4a40000000049454e44ae426082"
)
"""A 1x1 PNG."""

app = MCPServer("agentkit-test")
started = anyio.Event()
cancelled = anyio.Event()
cancellations: list[str] = []


@app.tool(annotations=types.ToolAnnotations(read_only_hint=True))
def add(a: int, b: int) -> int:
    """Add two whole numbers."""
    return a + b


@app.tool()
def echo(text: str) -> str:
    """Say `text` back."""
    return text


@app.tool(name="db.query/run")
def db_query(sql: str) -> str:
    """Run a query (a name with a dot and a slash)."""
    return f"ran {sql}"


@app.tool(name="x" * 70)
def long_name() -> str:
    """A tool whose name is too long for the Messages API."""
    return "long"


@app.tool()
def picture() -> Image:
    """A picture."""
    return Image(data=PNG, format="png")


@app.tool()
def resources() -> list[types.ContentBlock]:
    """An embedded text resource, an embedded PDF, audio and a resource link."""
    pdf = "JVBERi0xLjQKJcfsj6IK"  # the first bytes of a PDF, base64
    return [
        types.EmbeddedResource(type="resource", resource=types.TextResourceContents(
            uri="file:///notes.txt", text="the notes", mime_type="text/plain")),
        types.EmbeddedResource(type="resource", resource=types.BlobResourceContents(
            uri="file:///paper.pdf", blob=pdf, mime_type="application/pdf")),
        types.AudioContent(type="audio", data="AAAA", mime_type="audio/wav"),
        types.ResourceLink(type="resource_link", uri="file:///big.csv", name="big.csv",
                           mime_type="text/csv", description="every row"),
    ]


@app.tool()
def blank_and_broken() -> list[types.ContentBlock]:
    """An empty text, an image with no data (the API refuses both) and a text."""
    return [types.TextContent(type="text", text=""),
            types.ImageContent(type="image", data="", mime_type="image/png"),
            types.TextContent(type="text", text="kept")]


@app.tool(annotations=types.ToolAnnotations(idempotent_hint=True))
def fail(reason: str) -> str:
    """Fail with `reason`."""
    raise ToolError(reason)


@app.tool()
def crash() -> str:
    """Exit the server process in the middle of the call."""
    print("crashing on purpose", file=sys.stderr, flush=True)
    os._exit(3)


@app.tool()
async def wait_forever(ctx: Context) -> str:
    """Wait until cancelled, and remember the cancellation."""
    started.set()
    try:
        await anyio.sleep_forever()
    finally:
        cancellations.append(str(ctx.request_id))
        cancelled.set()
    return "unreachable"


@app.tool()
async def seen_cancellations(timeout: float) -> list[str]:
    """The request ids of the cancelled `wait_forever` calls, waiting up to `timeout` s for one."""
    with anyio.move_on_after(timeout):
        await cancelled.wait()
    return cancellations


@app.tool()
async def wait_started(timeout: float) -> bool:
    """Whether a `wait_forever` call has started (on any connection), waiting up to `timeout` s."""
    with anyio.move_on_after(timeout):
        await started.wait()
    return started.is_set()


@app.tool()
async def grow(ctx: Context) -> str:
    """Add the tool `fresh` and tell the client its tool list changed."""
    app.add_tool(lambda: "fresh", name="fresh", description="A tool added later.")
    await ctx.notify_tools_changed()  # 2026-era clients, on their subscriptions/listen stream
    if ctx.protocol_version == "2025-11-25":
        await ctx.session.send_tool_list_changed()
    return "grown"


@app.tool()
def process(name: str) -> dict[str, Any]:
    """This process: its pid, working directory and the environment variable `name`."""
    return {"pid": os.getpid(), "cwd": os.getcwd(), "env": os.environ.get(name)}


def main() -> None:
    print("agentkit-test server starting", file=sys.stderr, flush=True)
    if len(sys.argv) == 1:
        app.run()
        return
    import uvicorn

    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port given again
    listener.bind(("127.0.0.1", int(sys.argv[2]) if len(sys.argv) > 2 else 0))
    listener.listen(64)
    http = sys.argv[1] == "--http"
    starlette = app.streamable_http_app() if http else app.sse_app()
    server = uvicorn.Server(uvicorn.Config(starlette, log_level="warning"))
    print(f"port {listener.getsockname()[1]}", flush=True)
    anyio.run(lambda: server.serve(sockets=[listener]))


if __name__ == "__main__":
    main()
