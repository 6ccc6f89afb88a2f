"""tests/support/loopback.py: an aiohttp test server stops without leaving a socket unclosed."""

from __future__ import annotations

import asyncio
import socket

import pytest
from aiohttp import web
from loopback import LoopbackServer, unclosed_by_the_gc


@pytest.mark.asyncio
async def test_close_closes_connections_still_being_accepted() -> None:
    # Connections made just before close() are accepted but their transports not made yet:
    # each must be closed, not left for the GC to find in a later test (a ResourceWarning, an
    # error under `filterwarnings = error`).
    for _ in range(3):
        server = LoopbackServer(web.Application(), host="127.0.0.1")
        await server.start_server(shutdown_timeout=0.1)  # not waiting long for idle ones
        assert server.port is not None
        clients = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(5)]
        await asyncio.sleep(0)
        await asyncio.sleep(0)  # accepted, their transports not made yet
        await server.close()
        for client in clients:
            client.close()
        assert not unclosed_by_the_gc()
