"""One MCP server connection: opened on first use, owned by one task, reopened after it ends.

Owns the lifetime of a server's process or HTTP session. The SDK's client is a stack of async
context managers bound to the task that enters them, while a toolset is used from many tasks
(each run, each tool call) and outlives any one of them. So each connection is entered and
left by a task of its own (its *owner*), started on the running event loop; callers only wait
for it to be ready and use its `Client`. Rules:
- opening is lazy, once at a time (a lock), bounded by `connect_timeout`; a failure is a
  `MCPConnectionError` naming the server and what to check;
- `aclose` cancels the owner and waits (shielded, bounded) until the SDK has stopped the
  process or ended the session, so nothing outlives it, also when the caller is cancelled;
- the transport's end (a crashed process, a closed session) is noticed: the owner leaves and
  the next use opens a new connection; calls in flight get the SDK's "connection closed";
  a call that got it, or a transport error, says so (`lost`), as HTTP's streams do not end;
- a connection made on another event loop (an earlier `anyio.run`) is dropped, not reused;
- a change in the server's tool list (`notifications/tools/list_changed`, or a 2026-era
  `subscriptions/listen` event) calls `on_tools_changed`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal, Self

import anyio
import mcp_types as types
from mcp import Client
from mcp.client import IncomingMessage, Transport
from mcp.client._transport import ReadStream, TransportStreams
from mcp.client.subscriptions import Subscription
from mcp.shared.message import SessionMessage
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from .._errors import AgentkitError, UsageError
from .._run.failure import sole_exception

__all__ = ["Connection", "MCPConnectionError", "OpenTransport", "TransportStreams", "watched"]

log = logging.getLogger("agentkit.mcp")

OpenTransport = Callable[[anyio.Event], AbstractAsyncContextManager[TransportStreams]]
"""Opens the transport; sets the event when the transport's read side ends."""

_CLOSE_WAIT = 15.0
"""Seconds `aclose` waits for the owner: the SDK's stdio shutdown is bounded by about 6."""


class MCPConnectionError(AgentkitError):
    """An MCP server could not be reached, started or initialized."""


@dataclass(eq=False)
class _Link:
    """One opened (or opening) connection and its owner task."""

    loop: asyncio.AbstractEventLoop
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    ready: anyio.Event = field(default_factory=anyio.Event)
    ended: anyio.Event = field(default_factory=anyio.Event)
    done: anyio.Event = field(default_factory=anyio.Event)
    client: Client | None = None
    error: BaseException | None = None
    task: asyncio.Task[None] | None = None

    def usable(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Whether calls may go through it from `loop`."""
        return self.loop is loop and not self.ended.is_set() and not self.done.is_set()


class Connection:
    """The connection to one MCP server, opened when first needed (see the module doc)."""

    def __init__(
        self,
        name: str,
        open_transport: OpenTransport,
        *,
        connect_timeout: float,
        mode: Literal["auto", "legacy"],
        on_tools_changed: Callable[[], None],
    ) -> None:
        self.name = name
        self._open_transport = open_transport
        self.connect_timeout = connect_timeout
        """Seconds to start, initialize and list the tools."""
        self._mode: Literal["auto", "legacy"] = mode
        self._on_tools_changed = on_tools_changed
        self._link: _Link | None = None
        self._lock: anyio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None
        self.opened = 0
        """How many times a connection was opened (a reconnect counts)."""

    async def client(self) -> Client:
        """The connected client, opening (or reopening) the connection first if needed.

        Raises:
            MCPConnectionError: the server could not be started, reached or initialized in time.
            UsageError: the event loop is not asyncio's.
        """
        loop = _running_loop()
        link = self._link
        if link is not None and link.client is not None and link.usable(loop):
            return link.client
        async with self._loop_lock(loop):
            link = self._link
            if link is not None and link.client is not None and link.usable(loop):
                return link.client  # opened by another task meanwhile
            if link is not None and link.loop is loop:
                await _finish(link)  # it ended: let go of what is left before starting anew
            return await self._open(loop)

    def lost(self, client: Client) -> None:
        """`client`'s connection failed under a call (a closed stream, a refused session): let
        it go, so the next use opens a new one. Over HTTP nothing else tells: the read stream
        outlives a server that died, and the one that comes back refuses the old session."""
        link = self._link
        if link is not None and link.client is client:
            link.ended.set()  # the owner leaves and closes it; `client()` then opens anew

    async def aclose(self) -> None:
        """Close the connection, if open: the process stopped or the session ended."""
        link, self._link = self._link, None
        if link is not None:
            await _finish(link)

    # -- internals ---------------------------------------------------------------------------

    def _loop_lock(self, loop: asyncio.AbstractEventLoop) -> anyio.Lock:
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = anyio.Lock(), loop
        return self._lock

    async def _open(self, loop: asyncio.AbstractEventLoop) -> Client:
        link = _Link(loop)
        self._link = link
        link.task = link.loop.create_task(self._own(link), name=f"agentkit.mcp {self.name}")
        try:
            with anyio.fail_after(self.connect_timeout):
                await link.ready.wait()
        except TimeoutError:
            await _finish(link)
            raise MCPConnectionError(
                f"the MCP server {self.name} did not finish starting within "
                f"{self.connect_timeout:g} s; check that it runs on its own (its log is on the "
                "'agentkit.mcp' logger), or raise connect_timeout="
            ) from None
        except BaseException:
            await _finish(link)  # cancelled while waiting: nothing may outlive the caller
            raise
        if link.client is None:
            error = link.error
            raise MCPConnectionError(
                f"could not connect to the MCP server {self.name}: {_reason(error)}"
            ) from error
        self.opened += 1
        return link.client

    async def _own(self, link: _Link) -> None:
        """The owner task: enter the client, keep it until asked to stop or the transport ends."""
        try:
            with link.scope:
                transport: Transport = self._open_transport(link.ended)
                async with Client(transport, mode=self._mode, message_handler=self._on_message,
                                  cache=None) as client, AsyncExitStack() as stack:
                    # Subscribed before anyone may call a tool, so no change is missed.
                    events = await self._subscribe(client, stack)
                    link.client = client
                    link.ready.set()
                    async with anyio.create_task_group() as tg:
                        if events is not None:
                            tg.start_soon(self._drain, events)
                        await link.ended.wait()
                        tg.cancel_scope.cancel()
                    log.info("MCP server %s closed the connection", self.name)
        except Exception as exc:
            link.error = exc
            log.info("MCP server %s: connection failed or ended: %r", self.name, exc)
        except BaseException as exc:  # cancelled (closing) or a loop shutting down
            link.error = exc
            raise
        finally:
            link.ended.set()
            link.done.set()
            link.ready.set()

    async def _subscribe(self, client: Client, stack: AsyncExitStack) -> Subscription | None:
        """On a 2026-era connection, tool-list changes come on a `subscriptions/listen` stream."""
        tools = client.server_capabilities.tools
        if client.protocol_version not in MODERN_PROTOCOL_VERSIONS or tools is None \
                or not tools.list_changed:
            return None  # 2025-era: `notifications/tools/list_changed`, to `_on_message`
        try:
            return await stack.enter_async_context(client.listen(tools_list_changed=True))
        except Exception as exc:  # the listing is still fetched again after a reconnect
            log.info("MCP server %s refused a tool-list subscription: %r", self.name, exc)
            return None

    async def _drain(self, events: Subscription) -> None:
        try:
            async for _ in events:
                pass  # each event is also teed to `_on_message`, which acts on it
        except Exception as exc:
            log.info("MCP server %s: tool-list subscription ended: %r", self.name, exc)

    async def _on_message(self, message: IncomingMessage) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            self._on_tools_changed()
        elif isinstance(message, Exception):
            log.info("MCP server %s sent something unreadable: %r", self.name, message)
        await anyio.lowlevel.checkpoint()


async def _finish(link: _Link) -> None:
    """Stop `link`'s owner and wait until it has let go of everything (shielded, bounded)."""
    link.scope.cancel()
    if link.task is None or link.loop is not _running_loop():
        return  # another loop's task: that loop cancelled it when it shut down
    with anyio.CancelScope(shield=True), anyio.move_on_after(_CLOSE_WAIT):
        await link.done.wait()


def _running_loop() -> asyncio.AbstractEventLoop:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        raise UsageError(
            "MCP toolsets run on asyncio's event loop (anyio's default backend); this code "
            "runs on another (trio?). Run the agent with asyncio."
        ) from None


def _reason(failure: BaseException | None) -> str:
    if failure is None:
        return "it stopped before it was ready"
    error = sole_exception(failure)
    if isinstance(error, FileNotFoundError):
        return f"no such command ({error.filename or error}); check the command and PATH"
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


@asynccontextmanager
async def watched(
    transport: AbstractAsyncContextManager[TransportStreams], ended: anyio.Event
) -> AsyncGenerator[TransportStreams]:
    """`transport`, its read side reporting its end on `ended` (a server that died)."""
    async with transport as (read, write):
        yield _WatchedRead(read, ended), write


_Item = SessionMessage | Exception


class _WatchedRead:
    """A read stream that sets `ended` when the stream ends (EOF or closed under the reader)."""

    def __init__(self, inner: ReadStream[_Item], ended: anyio.Event) -> None:
        self._inner = inner
        self._ended = ended
        self.last_context = None
        """The SDK reads the sender's context from HTTP streams here; see `receive`."""

    async def receive(self) -> _Item:
        try:
            item = await self._inner.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._ended.set()
            raise
        self.last_context = getattr(self._inner, "last_context", None)
        return item

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> _Item:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> bool | None:
        await self.aclose()
        return None
