"""`agentkit ui`: the run viewer, a local web page over a run store file.

Serves the `viewer` application on 127.0.0.1 only (a free port unless `--port`), prints the
URL, opens a browser only when asked (`--open`), and runs until Ctrl-C. Rules: like `agentkit
runs`, a missing file or one that is not a run store is one message and exit code 2 (the file
is opened read-only, never created); so is a port that is taken. The event loop, the server
and the store are imported by `cmd_ui`, not by the parser.
"""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING, Any

from .common import fail

if TYPE_CHECKING:
    import socket

    from .viewer import RunReader

__all__ = ["add_ui", "cmd_ui"]


def cmd_ui(args: argparse.Namespace) -> int:
    """`agentkit ui --db PATH [--port N] [--open]`."""
    import asyncio

    from agentkit.errors import StoreError

    from .display import Display
    from .viewer import RunReader

    try:
        reader = RunReader(args.db, clock=time.time)
    except StoreError as exc:
        fail(str(exc))
        return 2
    try:
        listener = _listen(args.port)
    except OSError as exc:
        reader.close()
        fail(f"cannot listen on 127.0.0.1:{args.port} ({exc.strerror or exc}); pick another "
             "--port, or leave it out for a free one")
        return 2
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
    try:
        asyncio.run(_serve(reader, listener, url, args))
    except KeyboardInterrupt:
        Display().note("stopped")
    finally:
        listener.close()
        reader.close()
    return 0


def _listen(port: int) -> socket.socket:
    import socket

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.bind(("127.0.0.1", port))
        listener.listen(128)
    except OSError:
        listener.close()
        raise
    return listener


async def _serve(
    reader: RunReader, listener: socket.socket, url: str, args: argparse.Namespace
) -> None:
    import asyncio
    import webbrowser

    from aiohttp import web

    from agentkit._run.loop import wakes_on_ctrl_c

    from .display import Display
    from .viewer import make_app

    with wakes_on_ctrl_c():  # a Ctrl-C stops the server whenever it comes
        runner = web.AppRunner(make_app(reader), access_log=None)
        await runner.setup()
        try:
            await web.SockSite(runner, listener).start()
            Display().line(f"agentkit ui: the runs of {args.db} at {url} (Ctrl-C to stop)")
            # In a thread: a launcher that waits for its browser (BROWSER="cmd %s") must not
            # hold up the server, nor Ctrl-C.
            if args.open and not await asyncio.to_thread(webbrowser.open, url):
                Display().note("no web browser was found to open: open the URL above yourself")
            await asyncio.Event().wait()  # until Ctrl-C cancels this task
        finally:
            # asyncio accepts a socket in the listener's reader callback but makes its transport
            # in a task an iteration later; closing the server before that task runs (as
            # `cleanup` does first) leaves the socket unclosed on Python 3.11 (`Server._attach`
            # fails, silently). So stop accepting first and let the accepts under way finish:
            # their connections are then the server's, and `cleanup` closes them.
            asyncio.get_running_loop().remove_reader(listener.fileno())
            await asyncio.sleep(0)
            await runner.cleanup()


def _port(text: str) -> int:
    """An argparse type: a TCP port, 0 for a free one."""
    if not (text.isascii() and text.isdigit()) or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 0 to 65535, got {text!r}")
    return int(text)


def add_ui(sub: Any, command: Any) -> None:
    """The `ui` subcommand; `command` is `main._command` (help, examples, exit codes)."""
    ui: argparse.ArgumentParser = command(
        sub, "ui", "browse durable runs in a local web page",
        "Serve a read-only web page on 127.0.0.1 over a run store file: the runs (filter by "
        "status or text), and each one as a timeline of its turns, tool calls, tokens, cost "
        "and time, live while it runs. Prints the URL; stops with Ctrl-C.",
        ["agentkit ui --db runs.db",
         "agentkit ui --db runs.db --port 8765 --open"],
        cmd_ui, modes=False,
    )
    ui.add_argument("--db", required=True, metavar="PATH", help="the run store file")
    ui.add_argument("--port", type=_port, default=0, metavar="N",
                    help="the port on 127.0.0.1 (default: a free one)")
    ui.add_argument("--open", action="store_true", help="open the page in a web browser")
