"""The default async transport's aiohttp session, driven directly (`AiohttpDriver`).

`AsyncClient`'s default transport is `httpx_aiohttp.AiohttpTransport`. Calling it through
httpx costs an `httpx.Request` per call and an async iteration over every body; driving its
aiohttp session here does the same work (same session, timeouts and error mapping) for
~0.1 ms less CPU per request, a fifth of an agent turn (`benchmarks/bench.py`). Replies
still come back as `httpx.Response`, so the clients see one kind of response.

Rules:
- aiohttp's pool belongs to the asyncio loop that first used it: `check_loop` says so
  clearly rather than letting aiohttp fail obscurely.
- A loop agentkit starts itself (`run_sync`) closes the pools it bound before it ends
  (`release_loop_pools`): a pool dies with its loop, its client opens a new one in the next.
- aiohttp is imported inside the functions that need it, so importing agentkit does not load it.
- A body read whole comes back as the `httpx.Response` that `content=` would make, without
  httpx's read machinery when there is nothing to decode (`ReadResponse`): ~80 us less CPU per
  request, a tenth of an agent turn at 3,000 concurrent runs (`benchmarks/conc.py`).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Any, cast

import httpx

from .._errors import UsageError
from .sansio import Call

__all__ = ["AiohttpDriver", "ReadResponse", "release_loop_pools"]

_BOUND: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, weakref.WeakSet[AiohttpDriver]] = (
    weakref.WeakKeyDictionary()
)
"""The pools each loop bound, to close before it ends (`release_loop_pools`)."""


async def release_loop_pools() -> None:
    """Close the default (aiohttp) pools that the running loop bound, as it is about to end,
    and leave their clients usable: the next loop to use one opens a pool of its own. For
    whoever ends a loop it started (`run_sync`, the command line), so a pool that dies with
    the loop is not left open (aiohttp's "Unclosed client session" at exit)."""
    loop = asyncio.get_running_loop()
    for driver in list(_BOUND.pop(loop, ())):
        await driver.release(loop)


class ReadResponse(httpx.Response):
    """The `httpx.Response(status, headers=..., content=...)` of a body with no
    `Content-Encoding`, made without running httpx's read machinery (decoder lookup, byte
    iterators, chunker) over bytes it would hand back unchanged: the same status, headers
    (`Content-Length` added when missing, as `content=` does), content and state."""

    def __init__(self, status: int, headers: Any, content: bytes) -> None:
        super().__init__(status, headers=headers, stream=httpx.ByteStream(content))
        if content:
            self._prepare({"Content-Length": str(len(content))})
        self._content = content
        self.is_stream_consumed = True
        self.is_closed = True


class AiohttpDriver:
    """Our default `httpx_aiohttp.AiohttpTransport`, its aiohttp session driven directly.

    Also keeps the asyncio loop that first used it: aiohttp's pool belongs to that loop.
    """

    __slots__ = ("__weakref__", "_aiohttp_timeouts", "_loop", "_timeout", "_transport")

    def __init__(
        self, transport: httpx.AsyncBaseTransport, timeout: Callable[[Call], httpx.Timeout]
    ) -> None:
        self._transport = transport
        self._timeout = timeout
        """The client's timeouts for a call (`ClientBase._timeout`)."""
        self._loop: object = None
        self._aiohttp_timeouts: dict[float | None, Any] = {}

    def check_loop(self) -> None:
        """aiohttp's pool belongs to the asyncio loop that first used it: say so clearly."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise UsageError(
                "the default transport (aiohttp) needs asyncio; under trio pass "
                "transport=httpx.AsyncHTTPTransport()"
            ) from None
        if self._loop is None:
            self._loop = loop
            _BOUND.setdefault(loop, weakref.WeakSet()).add(self)
        elif self._loop is not loop:
            raise UsageError(
                "this AsyncClient was first used in another event loop, and its connection "
                "pool belongs to that loop: make one AsyncClient per asyncio.run()/anyio.run()"
            )

    async def release(self, loop: asyncio.AbstractEventLoop) -> None:
        """Close the pool if it belongs to `loop`, and forget that loop."""
        if self._loop is not loop:
            return
        transport = cast(Any, self._transport)
        try:
            await transport.aclose()
        finally:
            transport.client = None  # `roundtrip` makes a new session when next used
            self._loop = None

    async def roundtrip(self, call: Call, stream: bool) -> httpx.Response:
        """What our `AiohttpTransport` does, minus the `httpx.Request` it would need and the
        async byte iteration of a whole body: ~0.1 ms of CPU per request, a fifth of an
        agent turn (`benchmarks/bench.py`). Same session, timeouts and error mapping."""
        from httpx_aiohttp.transport import AiohttpResponseStream, map_aiohttp_exceptions

        transport = cast(Any, self._transport)
        session = transport.client
        if session is None or callable(session):
            session = transport.client = transport.get_client()
        timeout = self._aiohttp_timeouts.get(call.read_timeout)
        if timeout is None:
            from aiohttp import ClientTimeout

            limits = self._timeout(call)
            timeout = ClientTimeout(
                sock_connect=limits.connect, sock_read=limits.read, connect=limits.pool
            )
            if len(self._aiohttp_timeouts) < 16:
                self._aiohttp_timeouts[call.read_timeout] = timeout
        # `map_aiohttp_exceptions` on the error path only: around the await, its generator
        # and wrapper would be kept alive by every waiting request (work for the cyclic GC).
        try:
            response = await session.request(
                call.method, call.url, params=call.params, headers=call.headers,
                data=call.content or None, allow_redirects=False, auto_decompress=False,
                compress=False, timeout=timeout,
            )
            if stream:
                return httpx.Response(
                    response.status, headers=response.raw_headers,
                    stream=AiohttpResponseStream(response),
                )
            try:
                content = await response.read()
            finally:
                response.release()
        except Exception:
            with map_aiohttp_exceptions():
                raise
        if "Content-Encoding" in response.headers:  # httpx decodes it, as it always has
            return httpx.Response(response.status, headers=response.raw_headers, content=content)
        return ReadResponse(response.status, response.raw_headers, content)
