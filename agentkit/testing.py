"""Fakes of the Messages API for tests, recipes and offline runs (public).

Owns the two front ends that serve a script (`_fake_server.Script`): `ScriptedTransport`, an
httpx transport (sync and async) for tests, and `FakeServer`, real HTTP and SSE on
127.0.0.1 in a background thread for the CLI, recipes and load tests; plus small helpers for
functions that play the model, and `python -m agentkit.testing serve`.

Rules: both front ends carry out the same `Plan`s, so a script behaves the same in-process
and over a socket. A transport raises `ScriptError` straight into the test; the server, which
has no caller to raise to, answers a 400 and re-raises on `assert_consumed()` or on leaving
its `with` block. Simulated timeouts never wait: a delay longer than the request's read
timeout raises `httpx.ReadTimeout` at once (the server, being real, really waits).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Self, cast

import anyio
import httpx

from ._errors import ScriptError, UsageError
from ._fake_server import (
    Fault,
    FunctionModel,
    Plan,
    RecordedRequest,
    Script,
    Step,
    check_request,
    encode_sse,
    error_plan,
    message_to_events,
    message_to_sse,
    new_id,
    reply,
    text_reply,
    tool_reply,
)
from ._wire import Message

__all__ = [
    "FakeServer",
    "Fault",
    "FunctionModel",
    "RecordedRequest",
    "Script",
    "ScriptError",
    "ScriptedTransport",
    "Step",
    "check_request",
    "echo_model",
    "encode_sse",
    "last_user_text",
    "load_script",
    "message_to_events",
    "message_to_sse",
    "new_id",
    "reply",
    "schema_example",
    "text_reply",
    "tool_model",
    "tool_reply",
    "tool_results",
    "with_faults",
]


# -- helpers for functions that play the model ---------------------------------------------


def tool_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The `tool_result` blocks of the request's last user message (empty if none)."""
    messages = body.get("messages") or []
    if not messages or messages[-1].get("role") != "user":
        return []
    content = messages[-1].get("content")
    if not isinstance(content, list):
        return []
    return [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]


def last_user_text(body: dict[str, Any]) -> str:
    """The text of the last user turn that has any (turns of only tool results skipped)."""
    for turn in reversed(body.get("messages") or []):
        if turn.get("role") == "user":
            content = turn.get("content")
            if isinstance(content, str):
                return content
            text = "".join(b.get("text", "") for b in content if b.get("type") == "text")
            if text:
                return text
    return ""


def schema_example(schema: Mapping[str, Any]) -> Any:
    """A value fitting a JSON Schema: its default, example or first enum value, else by type
    (objects get their required properties). For models that must call tools plausibly."""
    for key in ("default", "const"):
        if key in schema:
            return schema[key]
    for key in ("examples", "enum", "anyOf", "oneOf"):
        if schema.get(key):
            first = schema[key][0]
            return schema_example(first) if key in ("anyOf", "oneOf") else first
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props = schema.get("properties") or {}
        return {name: schema_example(props.get(name, {})) for name in schema.get("required", [])}
    if kind == "array":
        return [schema_example(schema.get("items") or {})]
    return {"integer": 1, "number": 1.5, "boolean": True, "null": None}.get(kind or "", "example")


def _result_text(result: dict[str, Any]) -> str:
    content = result.get("content")
    if isinstance(content, list):
        content = " ".join(b.get("text", "") for b in content if isinstance(b, dict))
    return f"error: {content}" if result.get("is_error") else str(content or "")


def _play_tools(body: dict[str, Any]) -> Message | str:
    results = tool_results(body)
    if results:
        return "Tool results: " + "; ".join(_result_text(r) for r in results)
    text = last_user_text(body)
    tools = [t for t in body.get("tools") or () if "input_schema" in t and t["name"] in text]
    if not tools:
        return f"echo: {text}"
    return reply(tool_calls=[(t["name"], schema_example(t["input_schema"])) for t in tools])


echo_model = FunctionModel(lambda body: f"echo: {last_user_text(body)}")
"""A model that answers every request with `echo: <last user text>`."""

tool_model = FunctionModel(_play_tools)
"""A model for offline demos: calls (in parallel) every client tool named in the user's
last text, with arguments made from its schema; after tool results, answers
`Tool results: …` quoting them; otherwise echoes like `echo_model`."""


def with_faults(
    model: Callable[[dict[str, Any]], Message | Fault | str],
    faults: Mapping[int, Fault] | Callable[[int, dict[str, Any]], Fault | None],
) -> FunctionModel:
    """`model`, except that the n-th request it sees (0-based, retries included) gets a fault:
    `faults[n]`, or `faults(n, body)` when that is not None. For fault suites and load tests,
    e.g. `with_faults(tool_model, lambda n, body: Fault.overloaded() if n % 10 == 3 else None)`.
    """
    counter = itertools.count()

    def answer(body: dict[str, Any]) -> Message | Fault | str:
        n = next(counter)  # atomic under the GIL, so threads never share a number
        fault = faults(n, body) if callable(faults) else faults.get(n)
        return fault if fault is not None else model(body)

    return FunctionModel(answer)


# -- the httpx transport --------------------------------------------------------------------


class _Chunks(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body yielded chunk by chunk, ending in a protocol error when cut."""

    def __init__(self, chunks: list[bytes], cut: bool, request: httpx.Request) -> None:
        self._chunks, self._cut, self._request = chunks, cut, request

    def _broken(self) -> httpx.RemoteProtocolError:
        message = "peer closed connection without sending complete message body"
        return httpx.RemoteProtocolError(message, request=self._request)

    def __iter__(self) -> Iterator[bytes]:
        yield from self._chunks
        if self._cut:
            raise self._broken()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk
        if self._cut:
            raise self._broken()


class ScriptedTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """An httpx transport (sync and async) answering from a script, recording every request.

    Hand it to a client as `transport=`. `steps` is a list of steps (see `Step`), a
    `FunctionModel`, or a ready `Script` (then the other arguments are ignored). A request
    with no step left raises `ScriptError`; leaving the outermost `with` block (also entered
    by an httpx client using it) checks that every step was used.
    """

    def __init__(
        self,
        steps: Iterable[Step] | FunctionModel | Script = (),
        *,
        strict: bool = True,
        latency: float = 0.0,
        chunk_size: int = 16,
    ) -> None:
        if not isinstance(steps, Script):
            steps = Script(steps, strict=strict, latency=latency, chunk_size=chunk_size)
        self.script = steps
        self._depth = 0

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in order."""
        return self.script.requests

    def push(self, *steps: Step) -> None:
        """Append steps to the script."""
        self.script.push(*steps)

    def assert_consumed(self) -> None:
        """Raise `ScriptError` if a step was never requested or the script failed."""
        self.script.assert_consumed()

    def _plan(self, request: httpx.Request, raw: bytes) -> Plan:
        plan = self.script.respond(
            request.method, request.url.raw_path.decode(), request.headers, raw
        )
        timeout = request.extensions.get("timeout", {}).get("read")
        if timeout is not None and plan.delay > timeout:
            raise httpx.ReadTimeout(
                f"scripted delay {plan.delay:g}s > read timeout", request=request
            )
        return plan

    @staticmethod
    def _response(plan: Plan, request: httpx.Request) -> httpx.Response:
        if plan.reset:
            raise httpx.ReadError("[Errno 104] Connection reset by peer", request=request)
        headers = list(plan.headers)
        if not plan.stream:
            headers.append(("content-length", str(plan.length or sum(map(len, plan.chunks)))))
        stream = _Chunks(plan.chunks, plan.cut, request)
        return httpx.Response(plan.status, headers=headers, stream=stream, request=request)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        plan = self._plan(request, request.read())
        if plan.delay:
            time.sleep(plan.delay)
        return self._response(plan, request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        plan = self._plan(request, await request.aread())
        if plan.delay:
            await anyio.sleep(plan.delay)
        return self._response(plan, request)

    def __enter__(self) -> Self:
        self._depth += 1
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        self._depth -= 1
        if self._depth <= 0 and exc_type is None:
            self.assert_consumed()

    async def __aenter__(self) -> Self:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        self.__exit__(exc_type, exc_value, traceback)


# -- the loopback server --------------------------------------------------------------------

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 429: "Too Many Requests"}
_MAX_HEAD = 64 * 1024


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 keep-alive connection: parse a request, carry out its plan, repeat."""

    def __init__(self, server: FakeServer) -> None:
        self._server = server
        self._buffer = bytearray()
        self._need = 0
        self._task: asyncio.Task[None] | None = None
        self._transport: asyncio.Transport | None = None
        self._writable = asyncio.Event()
        self._writable.set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # create_server gives TCP ones
        self._server._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._server._connections.discard(self)
        self._transport = None
        self._writable.set()
        if self._task is not None:
            self._task.cancel()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._task is None and len(self._buffer) >= self._need:
            self._next_request()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def _next_request(self) -> None:
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
        loop = self._server._loop
        if loop is not None:
            self._task = loop.create_task(self._handle(parts[0], parts[1], headers, body, keep))

    async def _handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes, keep: bool
    ) -> None:
        try:
            await self._respond(method, target, headers, body, keep)
        except Exception as exc:  # a bug here must fail the test, not hang the client
            self._server.script.errors.append(ScriptError(f"FakeServer failed: {exc!r}"))
            self.abort()

    async def _respond(
        self, method: str, target: str, headers: dict[str, str], body: bytes, keep: bool
    ) -> None:
        try:
            plan = self._server.script.respond(method, target, headers, body)
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
        pause = self._server.chunk_delay
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
        self._task = None
        if self._buffer:
            self._next_request()


class FakeServer:
    """The fake Messages API over real HTTP/1.1 and SSE on 127.0.0.1, in a background thread.

    Serves a script like `ScriptedTransport` (same steps, faults and checks; a ready
    `Script` is used as is) to any client;
    point it at `base_url`. `latency` delays every answer (benchmarks), `chunk_delay` spaces
    SSE events (to watch a stream), `record=False` keeps no requests (long runs). One
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
    ) -> None:
        if not isinstance(steps, Script):
            steps = Script(
                steps, strict=strict, latency=latency, chunk_size=chunk_size, record=record
            )
        self.script = steps
        self.chunk_delay = chunk_delay
        self.host = host
        self.port = port
        """The listening port (the ephemeral one chosen, once started)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[_Connection] = set()
        self._stop: asyncio.Event | None = None

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>`: give it to a client as `base_url`."""
        return f"http://{self.host}:{self.port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in order."""
        return self.script.requests

    def push(self, *steps: Step) -> None:
        """Append steps to the script (safe while serving)."""
        self.script.push(*steps)

    def assert_consumed(self) -> None:
        """Raise `ScriptError` if a step was never requested or the script failed."""
        self.script.assert_consumed()

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
        server = await self._loop.create_server(
            lambda: _Connection(self), self.host, self.port, backlog=4096
        )
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        try:
            await self._stop.wait()
        finally:
            server.close()
            tasks = [c._task for c in self._connections if c._task is not None]
            for connection in list(self._connections):
                connection.abort()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
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


# -- command line ---------------------------------------------------------------------------


def load_script(lines: Iterable[str]) -> list[Step]:
    """Steps from JSONL: a JSON string is a text reply, `{"fault": "rate_limit", ...}` calls
    that `Fault` class method with the other keys, any other object is a `Message` (its `id`,
    `model` and `usage` may be left out). Raises `ValueError` naming the bad line."""
    steps: list[Step] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            if isinstance(item, str):
                steps.append(item)
            elif "fault" in item:
                kwargs = {k: v for k, v in item.items() if k != "fault"}
                steps.append(getattr(Fault, item["fault"])(**kwargs))
            else:
                steps.append(Message.model_validate({"id": new_id("msg"), "model": "", **item}))
        except Exception as exc:
            raise ValueError(f"script line {number}: {exc}") from exc
    return steps


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m agentkit.testing serve [--port N] [--script FILE.jsonl] [--latency S]`."""
    parser = argparse.ArgumentParser(prog="python -m agentkit.testing")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the fake Messages API on 127.0.0.1")
    serve.add_argument("--port", type=int, default=0, help="port (default: any free one)")
    serve.add_argument("--script", help="JSONL of replies and faults (default: tool_model)")
    serve.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    serve.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between events")
    args = parser.parse_args(argv)
    steps: Iterable[Step] | FunctionModel = tool_model
    if args.script:
        with open(args.script, encoding="utf-8") as file:
            steps = load_script(file)
    server = FakeServer(
        steps, latency=args.latency, chunk_delay=args.chunk_delay, port=args.port, record=False
    ).start()
    # SIGTERM (a supervisor, a test's terminate()) stops as cleanly as Ctrl-C.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    print(f"agentkit fake Messages API on {server.base_url} (Ctrl-C to stop)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    for error in server.script.errors:
        print(f"script error: {error}", file=sys.stderr)
    return 1 if server.script.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
