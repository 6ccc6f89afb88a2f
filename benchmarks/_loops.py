"""The two loops `bench.py` compares, and the fake model server they both talk to.

Owns the reference (`raw_run`: the minimal agent loop written by hand on aiohttp, with a
minimal SSE fold), the same agent in agentkit (`Drivers`), the tools both run, and `Server`
(agentkit's `FakeServer` playing the model, in a spawned child process so that its CPU and
GIL are not the client's). Rules: both loops send the same requests to the same server and
run the same tool coroutines; nothing here measures anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import aiohttp

from agentkit import Agent, AsyncClient, Hooks, Limits, tool
from agentkit.testing import FakeServer, FunctionModel, reply

MODEL = "claude-sonnet-4-5"
MAX_TOKENS = 1024
HEADERS = {
    "content-type": "application/json",
    "anthropic-version": "2023-06-01",
    "x-api-key": "offline",
}

# -- the model (runs in the server process) -----------------------------------------------------


def play(body: dict[str, Any]) -> Any:
    """The model: `rounds N` in the first user text asks for N rounds of 2 parallel calls."""
    messages = body["messages"]
    first = messages[0]["content"]
    text = first if isinstance(first, str) else first[0]["text"]
    rounds = int(text.split("rounds ", 1)[1].split()[0])
    done = sum(1 for m in messages if m["role"] == "assistant")
    if done < rounds:
        return reply(
            "Let me compute both.",
            tool_calls=[("add", {"a": done, "b": 1}), ("multiply", {"a": done, "b": 2})],
        )
    return f"The answer after {done} rounds is {done * 3}."


def _serve(pipe: Any, latency: float, core: int | None) -> None:
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if core is not None and len(cores) > 1:  # its own core, so the client keeps the other
        os.sched_setaffinity(0, {cores[core % len(cores)]})
    server = FakeServer(FunctionModel(play), latency=latency, record=False, strict=False)
    server.start()
    pipe.send(server.base_url)
    try:
        while pipe.recv() == "cpu":  # anything else (or the parent dying) means stop
            pipe.send(time.process_time())
    except EOFError:
        pass
    server.stop()


class Server:
    """A `FakeServer` in a child process (spawned: its CPU and GIL are not ours), pinned to
    `core` (an index into the cores this process may use) when given and there are two."""

    def __init__(self, latency: float, core: int | None = None) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._pipe, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, latency, core), daemon=True)
        self._proc.start()
        self.url: str = self._pipe.recv()

    def cpu(self) -> float:
        """The server process's CPU seconds so far."""
        self._pipe.send("cpu")
        return float(self._pipe.recv())

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._pipe.send("stop")
        self._proc.join(5)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join()


# -- the tools ----------------------------------------------------------------------------------


async def add_fn(a: int, b: int) -> int:
    return a + b


async def multiply_fn(a: int, b: int) -> int:
    return a * b


RAW_TOOLS: dict[str, Callable[..., Awaitable[Any]]] = {"add": add_fn, "multiply": multiply_fn}
TOOL_PARAMS = [
    {
        "name": name,
        "description": f"{name.capitalize()} two integers.",
        "input_schema": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"],
        },
    }
    for name in RAW_TOOLS
]


@tool
async def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@tool
async def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


# -- the raw loop (the reference) ---------------------------------------------------------------


class RawFold:
    """The raw loop's SSE reader: split on blank lines, `json.loads` each event, fold the few
    event types an agent needs into the reply's content (no typed `Message`, no checks)."""

    __slots__ = ("blocks", "buf", "msg", "parts")

    def __init__(self) -> None:
        self.msg: dict[str, Any] = {}
        self.blocks: list[dict[str, Any]] = []
        self.parts: list[list[str]] = []
        self.buf = b""

    def feed(self, chunk: bytes) -> None:
        *events, self.buf = (self.buf + chunk).split(b"\n\n")
        blocks, parts, loads = self.blocks, self.parts, json.loads
        for raw in events:
            event = loads(raw[raw.index(b"data: ") + 6 :])
            kind = event["type"]
            if kind == "content_block_delta":
                d = event["delta"]
                parts[event["index"]].append(
                    d.get("text") or d.get("partial_json") or d.get("thinking") or ""
                )
            elif kind == "content_block_start":
                blocks.append(event["content_block"])
                parts.append([])
            elif kind == "content_block_stop":
                block, text = blocks[event["index"]], "".join(parts[event["index"]])
                if block["type"] == "tool_use":
                    block["input"] = loads(text) if text else {}
                else:
                    block[block["type"]] = text
            elif kind == "message_start":
                self.msg = event["message"]
            elif kind == "message_delta":
                self.msg.update(event["delta"])

    def message(self) -> dict[str, Any]:
        self.msg["content"] = self.blocks
        return self.msg


def raw_fold(chunks: Iterable[bytes]) -> dict[str, Any]:
    """A whole SSE body through `RawFold` (figure 5's reference)."""
    fold = RawFold()
    for chunk in chunks:
        fold.feed(chunk)
    return fold.message()


async def _raw_json(response: aiohttp.ClientResponse) -> dict[str, Any]:
    return json.loads(await response.read())


async def _raw_sse(response: aiohttp.ClientResponse) -> dict[str, Any]:
    fold = RawFold()
    async for chunk in response.content.iter_any():
        fold.feed(chunk)
    return fold.message()


async def raw_run(
    session: aiohttp.ClientSession,
    url: str,
    prompt: str,
    stream: bool,
    marks: list[float] | None = None,
) -> str:
    """The minimal agent loop, by hand: what every figure is compared with."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
    read = _raw_sse if stream else _raw_json
    while True:
        if marks is not None:
            marks.append(time.process_time())
        body: dict[str, Any] = {"model": MODEL, "max_tokens": MAX_TOKENS, "tools": TOOL_PARAMS}
        if stream:
            body["stream"] = True
        body["messages"] = messages
        async with session.post(url, data=json.dumps(body), headers=HEADERS) as response:
            response.raise_for_status()
            msg = await read(response)
        content = msg["content"]
        messages.append({"role": "assistant", "content": content})
        calls = [b for b in content if b["type"] == "tool_use"]
        if not calls:
            return "".join(b["text"] for b in content if b["type"] == "text")
        values = await asyncio.gather(*(RAW_TOOLS[c["name"]](**c["input"]) for c in calls))
        messages.append(
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": c["id"], "content": json.dumps(v)}
                    for c, v in zip(calls, values, strict=True)
                ],
            }
        )


# -- drivers: one way to make a run of each kind ------------------------------------------------

RunFn = Callable[[str], Awaitable[Any]]


class Drivers:
    """A raw loop and an agentkit agent on one server, JSON or SSE."""

    def __init__(self, base_url: str, stream: bool) -> None:
        self.stream = stream
        self.url = base_url + "/v1/messages"
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1000))
        self.client = AsyncClient(api_key="offline", base_url=base_url)
        self.marks: list[float] = []

        def mark(ctx: Any, params: Any) -> None:
            self.marks.append(time.process_time())

        limits = Limits(max_turns=1000)
        self.agent = Agent(
            MODEL, tools=[add, multiply], client=self.client, stream=stream, limits=limits
        )
        self.marked = Agent(
            MODEL,
            tools=[add, multiply],
            client=self.client,
            stream=stream,
            limits=limits,
            hooks=Hooks(before_model=mark),
        )

    def run_fn(self, kind: str, marked: bool = False) -> RunFn:
        if kind == "raw":
            marks = self.marks if marked else None
            return lambda prompt: raw_run(self.session, self.url, prompt, self.stream, marks)
        agent = self.marked if marked else self.agent
        return lambda prompt: agent.run(prompt)

    async def close(self) -> None:
        await self.session.close()
        await self.client.aclose()
