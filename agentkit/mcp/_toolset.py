"""`MCPToolset`: an MCP server's tools as a toolset, over stdio, streamable HTTP or legacy SSE.

Owns what a server's tools become in a run: the listing (all pages; listed again after the
server says it changed, and after a reconnect), each MCP tool as a `Tool` (its `inputSchema`
as the `input_schema` jsonschema checks before the call; idempotent only when the server marks
it `readOnlyHint` or `idempotentHint`), and each call: the server's original name, its result
as `tool_result` content, and every failure (`isError`, a crash, a timeout, an unreachable
server) as an `is_error` result the run goes on from. A call carries its
`ctx.idempotency_key` in its `_meta` (`agentkit/idempotency_key`), so a tool that
`agentkit.mcp.serve` serves gets the caller's key (the same when a durable run repeats it).
A call that times out or whose run is cancelled is cancelled on the server too (the SDK
sends `notifications/cancelled`).
The connection itself is `_connection`'s.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any, Literal, Self
from urllib.parse import urlsplit, urlunsplit

import anyio
import httpx2
import mcp_types as types
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from .._errors import ToolError, UsageError
from .._run.failure import sole_exception
from .._tools.content import describe
from .._tools.context import RunContext
from .._tools.tool import Tool
from .._tools.toolset import Toolset
from ._connection import Connection, MCPConnectionError, OpenTransport, TransportStreams, watched
from ._convert import IDEMPOTENCY_META, api_name, to_content

__all__ = ["MCPToolset"]

log = logging.getLogger("agentkit.mcp")

Mode = Literal["auto", "legacy"]
_MAX_PAGES = 1000
"""A `tools/list` that pages on past this is a broken server, not a big one."""


class _Server:
    """What every view of one server shares: its connection and its latest listing."""

    def __init__(self, name: str, open_transport: OpenTransport, *, timeout: float | None,
                 connect_timeout: float, mode: Mode) -> None:
        self.name = name
        self.timeout = timeout
        self.connection = Connection(name, open_transport, connect_timeout=connect_timeout,
                                     mode=mode, on_tools_changed=self._changed)
        self.listing: list[types.Tool] = []
        self.version = 0
        """Bumped on each new listing, so views know to rebuild their tools."""
        self._changes = 0
        """Changes the server announced; the listing is current when it saw them all."""
        self._listed: tuple[int, int] | None = None
        """(changes, connection) the listing was fetched at."""

    def _changed(self) -> None:
        self._changes += 1

    async def list(self) -> None:
        """Fetch the listing (every page) if it changed or was never fetched on this connection.

        Raises:
            MCPConnectionError: the server could not be reached, or did not list its tools
                (an error, or no answer within `connect_timeout`).
        """
        client = await self.connection.client()
        current = (self._changes, self.connection.opened)
        if self._listed == current:
            return
        tools: list[types.Tool] = []
        cursor: str | None = None
        try:
            with anyio.fail_after(self.connection.connect_timeout):
                for _ in range(_MAX_PAGES):
                    page = await client.list_tools(cursor=cursor)
                    tools.extend(page.tools)
                    cursor = page.next_cursor
                    if cursor is None:
                        break
                else:
                    log.warning("MCP server %s: tools/list still paging after %d pages; using "
                                "those", self.name, _MAX_PAGES)
        except TimeoutError:
            raise MCPConnectionError(
                f"the MCP server {self.name} did not list its tools within "
                f"{self.connection.connect_timeout:g} s (raise connect_timeout=)"
            ) from None
        except Exception as exc:
            if _broken(exc):
                self.connection.lost(client)
            raise MCPConnectionError(
                f"the MCP server {self.name} did not list its tools: {describe(exc)}"
            ) from exc
        self.listing, self.version, self._listed = tools, self.version + 1, current

    async def call(self, original: str, input: dict[str, Any], ctx: RunContext[Any]) -> Any:
        """Call tool `original` with `input`; its content, or a `ToolError` the model reads."""
        try:
            client = await self.connection.client()
        except MCPConnectionError as exc:
            raise ToolError(str(exc)) from exc
        try:
            key = ctx.idempotency_key
            meta: types.RequestParamsMeta | None = None if key is None else {IDEMPOTENCY_META: key}
            result = await client.call_tool(original, input, meta=meta)
        except Exception as exc:
            if _broken(exc):
                self.connection.lost(client)  # the next call connects (or starts it) again
            if isinstance(exc, MCPError) and exc.code == types.CONNECTION_CLOSED:
                raise ToolError(
                    f"The MCP server {self.name} closed the connection during the call (it may "
                    "have crashed), so the call may or may not have taken effect. The next "
                    "call connects to it again (a stdio server is started again)."
                ) from exc
            if isinstance(exc, MCPError):
                raise ToolError(f"The MCP server {self.name} refused the call: {exc.message} "
                                f"(error {exc.code}).") from exc
            # a transport failure or an unreadable reply: not the run's
            raise ToolError(f"The call to the MCP server {self.name} failed: {describe(exc)}") \
                from exc
        content = to_content(result)
        if result.is_error:
            raise ToolError(content)
        return content


class _View:
    """A server's tools as one toolset sees them: names after its prefix (a `ToolSource`)."""

    def __init__(self, server: _Server, prefix: str = "") -> None:
        self.server = server
        self.prefix = prefix
        self._tools: dict[str, Tool] = {}
        self._version = 0

    async def tools_for(self, ctx: RunContext[Any]) -> list[Tool]:
        await self.server.list()
        if self._version != self.server.version:
            self._tools = self._build()
            self._version = self.server.version
        return list(self._tools.values())

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    async def aclose(self) -> None:
        await self.server.connection.aclose()

    def _build(self) -> dict[str, Tool]:
        built: dict[str, Tool] = {}
        server = self.server
        for listed in server.listing:
            hints = listed.annotations
            name = self.prefix + api_name(listed.name, prefix=self.prefix)
            if name in built:  # a valid name equal to another's mapped one: keep the first
                log.warning("MCP server %s: tool %r left out: its name %r is taken",
                            server.name, listed.name, name)
                continue
            handler = partial(server.call, listed.name)
            # What errors name the tool's function by (two tools of one name): say whose it is.
            whose = f"{listed.name} of the MCP server {server.name}"
            handler.__qualname__ = whose  # type: ignore[attr-defined]
            try:
                built[name] = Tool.from_schema(
                    name=name,
                    description=listed.description or listed.title
                    or f"The tool {listed.name!r} of the MCP server {server.name}.",
                    input_schema=dict(listed.input_schema),
                    handler=handler,
                    idempotent=bool(hints and (hints.read_only_hint or hints.idempotent_hint)),
                    timeout=server.timeout,
                )
            except UsageError as exc:  # one broken definition must not cost the others
                log.warning("MCP server %s: tool %r left out: %s", server.name, listed.name, exc)
        return built


class MCPToolset(Toolset):
    """The tools of one MCP server, as a `Toolset` (`prefixed`, `filtered`, `+` work on it).

    Make one with `MCPToolset.stdio`, `.http` or `.sse`. It connects when first needed (a run
    lists its tools, or `async with`) and stays connected until `aclose()`, the end of its
    `async with` block, or the agent's (`async with agent:` / `agent.aclose()`).
    """

    __slots__ = ("_view",)

    def __init__(self, server: _Server) -> None:
        """Low-level; use `MCPToolset.stdio`, `.http` or `.sse`."""
        view = _View(server)
        super().__init__([view])
        self._view = view

    @classmethod
    def stdio(
        cls,
        command: str,
        args: Sequence[str] = (),
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        name: str | None = None,
        timeout: float | None = 300.0,
        connect_timeout: float = 30.0,
        mode: Mode = "auto",
    ) -> MCPToolset:
        """A server run as a subprocess that speaks MCP on its stdin and stdout.

        `env` is added to a minimal environment (PATH, HOME, ...), as the SDK does; `cwd` is
        its working directory. Its stderr goes to the `agentkit.mcp` logger (INFO), not the
        terminal. `timeout`: seconds a call may take (then it is cancelled on the server and
        reported to the model); `connect_timeout`: seconds to start and initialize it.
        `mode="legacy"` skips the 2026 protocol discovery (for servers that choke on it).
        `name` (default: the command line, what looks secret masked: see `_masked`) names it
        in errors, logs and so in traces.
        """
        _check_times(timeout, connect_timeout)
        params = StdioServerParameters(command=command, args=list(args), env=dict(env or {}),
                                       cwd=cwd)
        label = name or shlex.join(_masked([command, *args]))
        opener = partial(_stdio, params, label)
        return cls(_Server(label, opener, timeout=timeout, connect_timeout=connect_timeout,
                           mode=mode))

    @classmethod
    def http(
        cls,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth: httpx2.Auth | None = None,
        http_timeout: float = 30.0,
        name: str | None = None,
        timeout: float | None = 300.0,
        connect_timeout: float = 30.0,
        mode: Mode = "auto",
    ) -> MCPToolset:
        """A server at `url` over streamable HTTP.

        `headers` go with every request (e.g. `{"Authorization": "Bearer ..."}`); `auth` is an
        `httpx2.Auth` (the SDK's HTTP client), e.g. the SDK's `OAuthClientProvider`;
        `http_timeout` bounds each HTTP operation but reading a response stream. `timeout`,
        `connect_timeout`, `mode` and `name` are as for `stdio`.
        """
        _check_times(timeout, connect_timeout)
        client = partial(httpx2.AsyncClient, headers=dict(headers or {}), auth=auth,
                         timeout=httpx2.Timeout(http_timeout, read=timeout))
        opener = partial(_http, url, client)
        return cls(_Server(name or _masked_url(url), opener, timeout=timeout,
                           connect_timeout=connect_timeout, mode=mode))

    @classmethod
    def sse(
        cls,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth: httpx2.Auth | None = None,
        http_timeout: float = 30.0,
        name: str | None = None,
        timeout: float | None = 300.0,
        connect_timeout: float = 30.0,
    ) -> MCPToolset:
        """A server at `url` over the legacy HTTP+SSE transport (before streamable HTTP); the
        arguments are `http`'s. It speaks the 2025 protocol (`mode="legacy"`)."""
        _check_times(timeout, connect_timeout)

        def opener(ended: anyio.Event) -> AbstractAsyncContextManager[TransportStreams]:
            transport = sse_client(url, headers=dict(headers or {}), auth=auth,
                                   timeout=http_timeout, sse_read_timeout=timeout or 3600.0)
            return watched(transport, ended)

        return cls(_Server(name or _masked_url(url), opener, timeout=timeout,
                           connect_timeout=connect_timeout, mode="legacy"))

    @property
    def name(self) -> str:
        """What the server is called in errors and logs."""
        return self._view.server.name

    def __repr__(self) -> str:
        return f"MCPToolset({self.name!r})"

    async def __aenter__(self) -> Self:
        """Connect now (and list the tools), so a server that fails says so here."""
        try:
            await self._view.server.list()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the server (stdio) or end the session (HTTP); a later run connects again."""
        await self._view.aclose()

    async def list_tools(self) -> list[Tool]:
        """The server's tools as the model will see them (connecting first if needed)."""
        return await self._view.tools_for(RunContext(deps=None))

    def prefixed(self, prefix: str, *, sep: str = "_") -> Toolset:
        """A toolset of this server's tools named `prefix` + `sep` + name (still valid: names
        the API refuses are mapped with the prefix counted). Shares this one's connection.

        Raises:
            UsageError: the prefix is not a valid start of a tool name, or leaves no room.
        """
        start = prefix + sep
        if not re.fullmatch(r"[a-zA-Z0-9_-]{1,50}", start):
            raise UsageError(f"prefix {start!r} must be 1 to 50 letters, digits, '_' or '-' "
                             "(tool names are at most 64 characters)")
        return Toolset([_View(self._view.server, start)])


_TRANSPORT_ERRORS = (OSError, httpx2.TransportError, anyio.BrokenResourceError,
                     anyio.ClosedResourceError, anyio.EndOfStream)


def _broken(error: Exception) -> bool:
    """Whether `error` means the connection is gone, not that the server refused one request
    or sent one reply that could not be read (reconnecting restarts a stdio server)."""
    if isinstance(error, MCPError):
        return error.code == types.CONNECTION_CLOSED
    return isinstance(sole_exception(error), _TRANSPORT_ERRORS)


_SECRET = r"[\w.-]*(?:token|key|secret|passw|pwd|auth|credential)[\w.-]*"
_SECRET_FLAG = re.compile(rf"-{{1,2}}{_SECRET}", re.IGNORECASE)
_SECRET_ASSIGNED = re.compile(rf"(-{{0,2}}{_SECRET})=.+", re.IGNORECASE)
_MASK = "***"


def _masked(argv: Sequence[str]) -> list[str]:
    """A command line fit for a server's default name, which errors, logs and so traces show:
    a URL's password and query values, and the value of a secret-named option (`--api-key X`,
    `--token=X`, `API_KEY=X`) masked. A server's documented command line often holds one
    (a database URL with its password, a hosted server's `?api_key=`)."""
    shown: list[str] = []
    for arg in argv:
        if shown and _SECRET_FLAG.fullmatch(shown[-1]) and not arg.startswith("-"):
            shown.append(_MASK)
        elif assigned := _SECRET_ASSIGNED.fullmatch(arg):
            shown.append(f"{assigned.group(1)}={_MASK}")
        else:
            shown.append(_masked_url(arg))
    return shown


def _masked_url(text: str) -> str:
    """`text` with its user info and query values masked, if it is a URL (else as it is)."""
    try:
        url = urlsplit(text)
        url.port  # noqa: B018 - raises ValueError for what is not a URL's netloc
    except ValueError:
        return text
    if not url.scheme or not url.netloc:
        return text
    netloc = url.netloc
    if "@" in netloc:  # a user name alone may be a token too (`https://TOKEN@host`)
        user = f"{url.username}:{_MASK}" if url.password is not None else _MASK
        netloc = f"{user}@{netloc.rpartition('@')[2]}"
    query = "&".join(f"{part.partition('=')[0]}={_MASK}" if "=" in part else part
                     for part in url.query.split("&")) if url.query else ""
    return urlunsplit((url.scheme, netloc, url.path, query, url.fragment))


def _check_times(timeout: float | None, connect_timeout: float) -> None:
    if timeout is not None and not timeout > 0:
        raise UsageError(f"timeout={timeout!r} must be a positive number of seconds, or None")
    if not connect_timeout > 0:
        raise UsageError(f"connect_timeout={connect_timeout!r} must be a positive number of "
                         "seconds")


@asynccontextmanager
async def _stdio(
    params: StdioServerParameters, label: str, ended: anyio.Event
) -> AsyncGenerator[TransportStreams]:
    """The SDK's stdio transport, the child's stderr read line by line into the log."""
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    errlog = os.fdopen(write_fd, "w")
    drained = anyio.Event()
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_log_lines, read_fd, label, drained)
            try:
                async with watched(stdio_client(params, errlog=errlog), ended) as streams:
                    errlog.close()  # the child holds its own copy: EOF comes when it exits
                    yield streams
            finally:
                errlog.close()
                with anyio.CancelScope(shield=True), anyio.move_on_after(1.0):
                    await drained.wait()  # the last lines (a crash's traceback) are logged
                tg.cancel_scope.cancel()
    finally:
        os.close(read_fd)


async def _log_lines(fd: int, label: str, drained: anyio.Event) -> None:
    pending = b""
    try:
        while True:
            await anyio.wait_readable(fd)
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                continue
            if not chunk:
                break
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                log.info("[%s] %s", label, line.decode(errors="replace").rstrip())
    finally:
        if pending:
            log.info("[%s] %s", label, pending.decode(errors="replace").rstrip())
        drained.set()


@asynccontextmanager
async def _http(
    url: str, client: partial[httpx2.AsyncClient], ended: anyio.Event
) -> AsyncGenerator[TransportStreams]:
    async with client() as http, watched(streamable_http_client(url, http_client=http),
                                         ended) as streams:
        yield streams
