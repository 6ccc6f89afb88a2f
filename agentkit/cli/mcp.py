"""`agentkit mcp serve`, and the `--mcp` option of `chat` and `run`.

Owns serving the ready tools over MCP (the families `chat --tools` names, over stdio or
streamable HTTP on 127.0.0.1) and the `--mcp COMMAND|URL` option (`common.mcp_toolsets` turns
each into an `MCPToolset`).
Rules: the MCP extra is imported only when asked for, and its absence is one message saying
what to install; tools that need approval are refused unless `--allow-approval-tools`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from agentkit import UsageError

from .chat import chat_tools
from .common import MCP_EXTRA, fail

__all__ = ["add_mcp", "add_mcp_option"]


def cmd_mcp_serve(args: argparse.Namespace) -> int:
    """`agentkit mcp serve`: the ready tools named by --tools, served over MCP."""
    try:
        from agentkit.mcp import serve
    except ModuleNotFoundError:
        fail(MCP_EXTRA)
        return 2
    try:
        from agentkit import Toolset  # here: `agentkit --help` loads no tools

        toolset = Toolset(chat_tools(args.tools, args.root, args.db))
    except UsageError as exc:
        fail(str(exc))
        return 2
    refused = [t.name for t in toolset if t.requires_approval and not args.allow_approval_tools]
    if refused:
        fail(f"not served, they need approval: {', '.join(refused)} "
             "(--allow-approval-tools serves them)")
    try:
        serve(toolset, port=args.http, allow_approval_tools=args.allow_approval_tools,
              on_listening=lambda url: print(f"serving MCP on {url}", file=sys.stderr,
                                             flush=True))
    except KeyboardInterrupt:
        return 130
    except (UsageError, OSError) as exc:
        fail(str(exc))
        return 2
    return 0


def add_mcp(sub: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
    """The `mcp` command and its `serve` subcommand."""
    mcp = sub.add_parser("mcp", help="serve agentkit's ready tools over MCP",
                         description="Model Context Protocol: serve the ready tools to MCP "
                         "clients (Claude Desktop, IDEs, other agents).")

    def usage(args: argparse.Namespace) -> int:
        mcp.print_help()
        return 2

    mcp.set_defaults(handler=usage)
    serve = command(
        mcp.add_subparsers(dest="mcp_command", metavar="COMMAND"), "serve",
        "serve ready tools over MCP (stdio, or streamable HTTP on 127.0.0.1)",
        "Serve the ready tool families named by --tools to MCP clients: on stdin/stdout by "
        "default, or over streamable HTTP at http://127.0.0.1:PORT/mcp with --http PORT. "
        "Tools that ask before each call (shell, python, file writes) are refused unless "
        "--allow-approval-tools is given: over MCP nobody is asked.",
        ["agentkit mcp serve --tools files,calculator --root ./notes",
         "agentkit mcp serve --tools calculator,clock --http 8765"],
        cmd_mcp_serve, modes=False,
    )
    serve.add_argument("--tools", "-t", required=True, metavar="FAMILIES",
                       help="comma-separated: files, shell, http, python, sqlite, calculator, "
                       "clock, or all")
    serve.add_argument("--http", type=int, metavar="PORT",
                       help="serve streamable HTTP on 127.0.0.1:PORT instead of stdio (0: a "
                       "free port; the URL is printed on stderr)")
    serve.add_argument("--allow-approval-tools", action="store_true",
                       help="also serve the tools that ask before each call")
    serve.add_argument("--root", default=".", metavar="DIR",
                       help="directory for files and shell (default: .)")
    serve.add_argument("--db", metavar="FILE", help="SQLite database for the sqlite tools")


def add_mcp_option(parser: argparse.ArgumentParser) -> None:
    """`--mcp COMMAND|URL` (repeatable), for `chat` and `run`."""
    parser.add_argument("--mcp", action="append", metavar="COMMAND|URL",
                        help="add an MCP server's tools: a command line run over stdio "
                        "(\"python -m mcp_server_time\") or an http(s):// URL (repeatable)")
