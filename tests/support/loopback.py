"""aiohttp servers for tests that stop without leaving a socket unclosed.

asyncio accepts a socket in the listener's reader callback but makes its transport in a task
an iteration later; aiohttp's `runner.cleanup()` closes the listener first, and on Python 3.11
that task then fails (`Server._attach`, silently), leaving the accepted socket open for the GC
to find in a later test (a ResourceWarning, an error under `filterwarnings = error`). A
browser's speculative connections make this likely. `cleanup` stops accepting first and lets
the accepts under way finish, so their connections are the server's and get closed.
"""

from __future__ import annotations

import asyncio
import gc
import warnings

from aiohttp import web
from aiohttp.test_utils import TestServer


async def cleanup(runner: web.BaseRunner) -> None:
    """`runner.cleanup()`, closing the connections still being accepted too."""
    loop = asyncio.get_running_loop()
    for site in runner.sites:
        server: asyncio.AbstractServer | None = getattr(site, "_server", None)
        for sock in getattr(server, "sockets", None) or ():
            loop.remove_reader(sock.fileno())
    await asyncio.sleep(0)  # the accepts under way make their transports
    await runner.cleanup()


class LoopbackServer(TestServer):
    """aiohttp's `TestServer`, whose `close` is `cleanup` above."""

    async def close(self) -> None:
        if self.runner is not None and not self.closed:
            await cleanup(self.runner)
        await super().close()


def unclosed_by_the_gc() -> list[warnings.WarningMessage]:
    """The ResourceWarnings a full collection raises now: sockets and transports a server left
    open (empty when every one was closed)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    return [w for w in caught if issubclass(w.category, ResourceWarning)]
