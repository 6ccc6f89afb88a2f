"""The fake Messages API over real HTTP/1.1 and SSE on 127.0.0.1: `FakeServer`.

Owns the loopback server (one asyncio event loop in a background thread, many keep-alive
connections) for the CLI, recipes and load tests; `agentkit.testing` re-exports it.

Rules: it carries out the `Plan`s of a `Script` (`_model`) byte for byte, like
`ScriptedTransport`, adding only HTTP framing. Having no caller to raise to, it answers a
`ScriptError` with a 400 and records it in `Script.errors`, to be re-raised by
`assert_consumed()` or on leaving its `with` block. Its delays are real waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self, cast

from .._errors import ScriptError, UsageError
from ._model import FunctionModel, Script, ScriptFront, Step
from ._ratelimit import RateLimit
from ._replies import error_plan

__all__ = ["FakeServer"]

# -- the loopback server --------------------------------------------------------------------

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 429: "Too Many Requests"}
_MAX_HEAD = 64 * 1024
_PLAIN_HTTP_ONLY = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 54\r\n"
    b"Connection: close\r\n\r\nthis server speaks plain HTTP: use http://, not https\n"
)


@dataclass(eq=False)
class _Listener:
    """What the connections of one running `FakeServer` share."""

    loop: asyncio.AbstractEventLoop
    server: FakeServer
    connections: set[_Connection] = field(default_factory=set["_Connection"])
    closing: bool = False
    """Set once the server stops: a connection made from then on is aborted at once."""
    emptied: asyncio.Event = field(default_factory=asyncio.Event)
    """Set, once closing, when the last connection is lost (its socket closed)."""


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 keep-alive connection: parse a request, carry out its plan, repeat."""

    def __init__(self, listener: _Listener) -> None:
        self._listener = listener
        self._buffer = bytearray()
        self._need = 0
        self.task: asyncio.Task[None] | None = None
        """The request being answered (None between requests)."""
        self._transport: asyncio.Transport | None = None
        self._writable = asyncio.Event()
        self._writable.set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # create_server gives TCP ones
        self._listener.connections.add(self)
        if self._listener.closing:  # accepted just before the listener closed
            self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self._listener.connections.discard(self)
        if self._listener.closing and not self._listener.connections:
            self._listener.emptied.set()
        self._transport = None
        self._writable.set()
        if self.task is not None:
            self.task.cancel()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self.task is None and len(self._buffer) >= self._need:
            self._next_request()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def _next_request(self) -> None:
        if self._buffer.startswith(b"\x16\x03") and self._transport is not None:
            # A TLS handshake (https:// to this plain-HTTP server): answer at once, as real
            # HTTP servers do, so the client fails fast instead of waiting for a ServerHello.
            self._transport.write(_PLAIN_HTTP_ONLY)
            self._transport.close()
            return
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > _MAX_HEAD:
                self.abort()
            return
        lines = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        size = headers.get("content-length", "0")
        chunked = "chunked" in headers.get("transfer-encoding", "")
        if len(parts) != 3 or chunked or not size.isdigit():
            self.abort()  # only what httpx and aiohttp send: a request line, a sized body
            return
        length = int(size)
        if len(self._buffer) < end + 4 + length:
            self._need = end + 4 + length  # don't rescan a large body on every packet
            return
        self._need = 0
        body = bytes(self._buffer[end + 4 : end + 4 + length])
        del self._buffer[: end + 4 + length]
        keep = headers.get("connection", "").lower() != "close"
        handle = self._handle(parts[0], parts[1], headers, body, keep)
        self.task = self._listener.loop.create_task(handle)

    async def _handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes, keep: bool
    ) -> None:
        try:
            await self._respond(method, target, headers, body, keep)
        except Exception as exc:  # a bug here must fail the test, not hang the client
            self._listener.server.script.errors.append(ScriptError(f"FakeServer failed: {exc!r}"))
            self.abort()

    async def _respond(
        self, method: str, target: str, headers: dict[str, str], body: bytes, keep: bool
    ) -> None:
        try:
            plan = self._listener.server.script.respond(method, target, headers, body)
        except ScriptError as exc:
            plan = error_plan(
                400,
                "invalid_request_error",
                f"agentkit.testing: {exc}",
                [("x-should-retry", "false")],
            )
        if plan.delay:
            await asyncio.sleep(plan.delay)
        transport = self._transport
        if transport is None:
            return
        if plan.reset:
            sock = transport.get_extra_info("socket")
            if sock is not None:  # SO_LINGER 0: close with an RST, as a crashed peer would
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
            return
        head = [f"HTTP/1.1 {plan.status} {_REASONS.get(plan.status, 'Status')}"]
        head += [f"{k}: {v}" for k, v in plan.headers]
        if plan.stream:
            head.append("transfer-encoding: chunked")
        else:
            head.append(f"content-length: {plan.length or sum(map(len, plan.chunks))}")
        if not keep:
            head.append("connection: close")
        transport.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        pause = self._listener.server.chunk_delay
        for chunk in plan.chunks:
            if plan.stream:
                transport.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                # Flush each event on its own so clients really see a partial stream.
                await (asyncio.sleep(pause) if pause else asyncio.sleep(0))
                await self._writable.wait()
                if self._transport is None:
                    return
            else:
                transport.write(chunk)
        if plan.cut:
            transport.abort()
            return
        if plan.stream:
            transport.write(b"0\r\n\r\n")
        if not keep:
            transport.close()
            return
        self.task = None
        if self._buffer:
            self._next_request()


class FakeServer(ScriptFront):
    """The fake Messages API over real HTTP/1.1 and SSE on 127.0.0.1, in a background thread.

    Serves a script like `ScriptedTransport` (same steps, faults and checks; a ready
    `Script` is used as is) to any client;
    point it at `base_url`. `latency` delays every answer (benchmarks), `chunk_delay` spaces
    SSE events (to watch a stream), `record=False` keeps no requests (long runs),
    `rate_limit` enforces a `RateLimit` with the API's 429s and headers. One
    event loop serves thousands of connections. Use as a context manager (leaving it checks
    the script like `assert_consumed()`), or `start()`/`stop()`.
    """

    def __init__(
        self,
        steps: Iterable[Step] | FunctionModel | Script = (),
        *,
        strict: bool = True,
        latency: float = 0.0,
        chunk_size: int = 16,
        chunk_delay: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        record: bool = True,
        context_window: int | None = None,
        betas: Iterable[str] | None = None,
        rate_limit: RateLimit | None = None,
    ) -> None:
        if not isinstance(steps, Script):
            steps = Script(
                steps,
                strict=strict,
                latency=latency,
                chunk_size=chunk_size,
                record=record,
                context_window=context_window,
                betas=betas,
                rate_limit=rate_limit,
            )
        elif rate_limit is not None:
            steps.rate_limit = rate_limit
        self.script = steps
        self.chunk_delay = chunk_delay
        self.host = host
        self.port = port
        """The listening port (the ephemeral one chosen, once started)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>`: give it to a client as `base_url`."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> Self:
        """Start listening; returns once the port is bound. Raises `OSError` if it can't bind,
        `UsageError` if already started."""
        if self._thread is not None:
            raise UsageError("FakeServer.start() called twice; call stop() first")
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._run, args=(ready, failure), name="agentkit-fake-server", daemon=True
        )
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        return self

    def stop(self) -> None:
        """Close every connection and the listener, and join the thread. Idempotent."""
        thread, loop, stop = self._thread, self._loop, self._stop
        if thread is None or loop is None or stop is None:
            return
        loop.call_soon_threadsafe(stop.set)
        thread.join()
        self._thread = None

    def _run(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._serve(ready))
        except BaseException as exc:  # a bind error goes to start(); a later crash to the test
            if ready.is_set():
                self.script.errors.append(ScriptError(f"FakeServer crashed: {exc!r}"))
            else:
                failure.append(exc)
                ready.set()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()

    async def _serve(self, ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        listener = _Listener(self._loop, self)
        server = await self._loop.create_server(
            lambda: _Connection(listener), self.host, self.port, backlog=4096
        )
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        try:
            await self._stop.wait()
        finally:
            # Every socket accepted must be closed before this loop ends, else the GC finds it
            # unclosed (a ResourceWarning) in whichever test runs next. asyncio accepts a
            # socket in the listener's reader callback but wraps it in a transport in a task
            # of its own, an iteration later; `server.close()` before that task runs makes it
            # fail (Python 3.11: `Server._attach` asserts the server is open, silently
            # outside debug mode) leaving the half-made transport's socket open, and its
            # `wait_closed()` waits for nothing. So: stop accepting (drop the reader), abort
            # every connection (connection_lost cancels its request's task), let the pending
            # accepts finish (`closing` aborts them on arrival; every task on this private
            # loop is a request's or an accept's), close the listener, and wait until every
            # connection is lost, i.e. its socket closed.
            listener.closing = True
            for sock in server.sockets:
                with contextlib.suppress(NotImplementedError):  # a loop without readers
                    self._loop.remove_reader(sock.fileno())
            for connection in list(listener.connections):
                connection.abort()
            current = asyncio.current_task()
            while pending := asyncio.all_tasks() - {current}:
                await asyncio.wait(pending)
            server.close()
            while listener.connections:
                listener.emptied.clear()
                await listener.emptied.wait()
            await server.wait_closed()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        self.stop()
        if exc_type is None:
            self.assert_consumed()
