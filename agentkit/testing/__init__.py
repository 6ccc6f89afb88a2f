"""Fakes of the Messages API for tests, recipes and offline runs (public).

The public face of the fake: re-exports the reply builders and `Fault` (`_replies`), the
`Script` (`_model`, with the strict request check of `_strict`), `FakeServer` (`_server`,
real HTTP and SSE on 127.0.0.1 in a background thread for the CLI, recipes and load tests) and
`Cassette` (`_cassette`: real exchanges recorded once, replayed offline). Owns
`ScriptedTransport`, an httpx transport (sync and async) serving a script in-process for
tests; small helpers for functions that play the model; and `python -m agentkit.testing
serve`.

Rules: both front ends carry out the same `Plan`s, so a script behaves the same in-process
and over a socket. A transport raises `ScriptError` straight into the test; the server, which
has no caller to raise to, answers a 400 and re-raises on `assert_consumed()` or on leaving
its `with` block. Simulated timeouts never wait: a delay longer than the request's read
timeout raises `httpx.ReadTimeout` at once (the server, being real, really waits).
"""

from __future__ import annotations

import argparse
import itertools
import json
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Self, cast

import anyio
import httpx

from .._api.wire import Message
from .._errors import CassetteError, ScriptError
from .._public import present_as
from .._tools.output import OUTPUT_TOOL_NAME as OUTPUT_TOOL
from ._cassette import Cassette, Matcher
from ._model import FunctionModel, RecordedRequest, Script, ScriptFront, Step
from ._ratelimit import RateLimit
from ._replies import (
    Fault,
    Plan,
    message_to_sse,
    new_id,
    reply,
    text_reply,
    tool_reply,
)
from ._server import FakeServer
from ._strict import blocks, turns

__all__ = [
    "Cassette",
    "CassetteError",
    "FakeClock",
    "FakeServer",
    "Fault",
    "FunctionModel",
    "Matcher",
    "RateLimit",
    "RecordedRequest",
    "ScriptError",
    "ScriptedTransport",
    "Step",
    "echo_model",
    "last_user_text",
    "message_to_sse",
    "reply",
    "text_reply",
    "tool_model",
    "tool_reply",
    "tool_results",
    "with_faults",
]


# -- time ----------------------------------------------------------------------------------


class FakeClock:
    """A clock for `Agent(clock=...)` that never waits: each `sleep` is recorded in `sleeps`
    and moves `now()` forward by its length; `advance` moves it by hand (to pass a deadline).
    """

    def __init__(self, start: float = 0.0) -> None:
        self.time = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.time

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.time += seconds
        await anyio.sleep(0)

    def advance(self, seconds: float) -> None:
        self.time += seconds


# -- helpers for functions that play the model ---------------------------------------------


def tool_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The `tool_result` blocks of the request's last user message (empty if none)."""
    messages = turns(body)
    if not messages or messages[-1].get("role") != "user":
        return []
    return [b for b in blocks(messages[-1]) if b.get("type") == "tool_result"]


def last_user_text(body: dict[str, Any]) -> str:
    """The text of the last user turn that has any (turns of only tool results skipped)."""
    for turn in reversed(turns(body)):
        if turn.get("role") == "user":
            content = turn.get("content")
            if isinstance(content, str):
                return content
            text = "".join(b.get("text", "") for b in blocks(turn) if b.get("type") == "text")
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
        kind = next((k for k in cast("list[object]", kind) if k != "null"), "null")
    if kind == "object":
        props = cast("Mapping[str, Any]", schema.get("properties") or {})
        required = cast("list[str]", schema.get("required", []))
        return {name: schema_example(props.get(name, {})) for name in required}
    if kind == "array":
        return [schema_example(schema.get("items") or {})]
    examples: dict[object, Any] = {"integer": 1, "number": 1.5, "boolean": True, "null": None}
    return examples.get(kind or "", "example")


def _result_text(result: dict[str, Any]) -> str:
    content = result.get("content")
    if isinstance(content, list):
        content = " ".join(b.get("text", "") for b in blocks(result))
    return f"error: {content}" if result.get("is_error") else str(content or "")


def _play_tools(body: dict[str, Any]) -> Message | str:
    results = tool_results(body)
    offered = {t["name"]: t for t in body.get("tools") or () if "input_schema" in t}
    output = offered.pop(OUTPUT_TOOL, None)
    text = last_user_text(body)
    tools = [] if results else [t for name, t in offered.items() if name in text]
    if output is not None and not tools:  # a structured answer is asked for: give one
        return reply(tool_calls=[(OUTPUT_TOOL, schema_example(output["input_schema"]))])
    if results:
        return "Tool results: " + "; ".join(_result_text(r) for r in results)
    if not tools:
        return f"echo: {text}"
    return reply(tool_calls=[(t["name"], schema_example(t["input_schema"])) for t in tools])


echo_model = FunctionModel(lambda body: f"echo: {last_user_text(body)}")
"""A model that answers every request with `echo: <last user text>`."""

tool_model = FunctionModel(_play_tools)
"""A model for offline demos: calls (in parallel) every client tool named in the user's
last text, with arguments made from its schema; after tool results, answers
`Tool results: …` quoting them; otherwise echoes like `echo_model`. When a structured
answer is asked for (`output_type=`: the `final_result` tool), it gives one from the schema
instead of text."""


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


class ScriptedTransport(ScriptFront, httpx.BaseTransport, httpx.AsyncBaseTransport):
    """An httpx transport (sync and async) answering from a script, recording every request.

    Hand it to a client as `transport=`. `steps` is a list of steps (see `Step`), a
    `FunctionModel`, or a ready `Script` (then the other arguments are ignored). A request
    with no step left raises `ScriptError`; leaving the outermost `with` block (also entered
    by an httpx client using it) checks that every step was used. `context_window` makes
    requests over that many tokens fail with "prompt is too long"; `betas` lists the only
    `anthropic-beta` values it accepts, as a gateway would (see `Script`).
    """

    def __init__(
        self,
        steps: Iterable[Step] | FunctionModel | Script = (),
        *,
        strict: bool = True,
        latency: float = 0.0,
        chunk_size: int = 16,
        context_window: int | None = None,
        betas: Iterable[str] | None = None,
    ) -> None:
        if not isinstance(steps, Script):
            steps = Script(
                steps,
                strict=strict,
                latency=latency,
                chunk_size=chunk_size,
                context_window=context_window,
                betas=betas,
            )
        self.script = steps
        self._depth = 0

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


SCRIPT_FORMAT = """\
script format (--script FILE.jsonl): one reply per line, served in order, one per request:
  "Hello!"                                        a text reply
  {"content": [{"type": "text", "text": "Hi"}]}   a Message (id, model, usage may be left out;
                                                  role, type, stop_reason get defaults)
  {"content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                "input": {"city": "Oslo"}}], "stop_reason": "tool_use"}
  {"fault": "rate_limit", "retry_after": 1}       a Fault class method and its arguments
                                                  (rate_limit, overloaded, error, reset, ...)
Blank lines are skipped. Without --script, tool_model answers every request (it calls the
tools named in the message, then quotes their results; otherwise it echoes)."""


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m agentkit.testing serve [--port N] [--script FILE.jsonl] [--latency S]`.

    A bad script or a port in use is one line on stderr and exit code 2."""
    parser = argparse.ArgumentParser(prog="python -m agentkit.testing")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the fake Messages API on 127.0.0.1",
                           epilog=SCRIPT_FORMAT,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    serve.add_argument("--port", type=int, default=0, help="port (default: any free one)")
    serve.add_argument("--script", help="JSONL of replies and faults, one per request (see "
                       "below; default: tool_model)")
    serve.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    serve.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between events")
    args = parser.parse_args(argv)
    steps: Iterable[Step] | FunctionModel = tool_model
    if args.script:
        try:
            with open(args.script, encoding="utf-8") as file:
                steps = load_script(file)
        except OSError as exc:
            return _usage_error(f"cannot read the script {args.script}: {exc.strerror or exc}")
        except (ValueError, UnicodeDecodeError) as exc:
            return _usage_error(f"bad script {args.script}: {_first_line(exc)} (see --help "
                                "for the format)")
    try:
        server = FakeServer(
            steps, latency=args.latency, chunk_delay=args.chunk_delay, port=args.port,
            record=False,
        ).start()
    except OSError as exc:
        return _usage_error(f"cannot listen on 127.0.0.1 port {args.port}: "
                            f"{exc.strerror or exc} (pick another --port, or 0 for any free one)")
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


def _first_line(exc: BaseException) -> str:
    """An error's text on one line (pydantic's spans several), without its help links."""
    lines = [line.strip() for line in str(exc).splitlines() if "errors.pydantic.dev" not in line]
    return " ".join(line for line in lines if line)[:400] or type(exc).__name__


def _usage_error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


present_as(__name__, __all__, globals())
