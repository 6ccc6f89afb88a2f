"""Transport measurement: client CPU per request and wall time, 200 concurrent runs.

Why: the agent loop is I/O bound, so a client that burns CPU per request caps how many runs
one process can drive. This script chooses (and re-checks) `AsyncClient`'s default
transport. It is a script, not a test:

    .venv/bin/python benchmarks/transport.py [--runs 200] [--requests 5] [--latency 0.05]

A loopback aiohttp server (127.0.0.1 only, in a child process so its CPU is not counted)
answers every request after `--latency` seconds (standing in for the model) with a small,
realistic Message, as JSON or as SSE. Each scenario starts `--runs` concurrent runs of
`--requests` sequential requests, `--repeats` times. Reported (best round): client CPU
(`time.process_time`) per request, wall time, and wall over the ideal (`requests ×
latency`, i.e. zero client cost).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from aiohttp import web
from httpx_aiohttp import AiohttpTransport

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agentkit._api.client import AsyncClient

MESSAGE = {
    "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "content": [
        {"type": "text", "text": "I'll look that up."},
        {
            "type": "tool_use",
            "id": "toolu_01A09q90qw90lq917835lq9",
            "name": "get_weather",
            "input": {"location": "San Francisco, CA", "unit": "celsius"},
        },
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 472,
        "output_tokens": 91,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "service_tier": "standard",
    },
}
REQUEST = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 1024,
    "messages": [{"role": "user", "content": "What is the weather in San Francisco?"}],
    "tools": [
        {
            "name": "get_weather",
            "description": "Get the current weather in a given location",
            "input_schema": {
                "type": "object",
                "properties": {"location": {"type": "string"}, "unit": {"type": "string"}},
                "required": ["location"],
            },
        }
    ],
}
HEADERS = {"request-id": "req_011CYEXg9iLMo4YhB4XfkXBw", "x-api-key": "bench-key"}


def _sse() -> bytes:
    start = {**MESSAGE, "content": [], "stop_reason": None}
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    events.append({"type": "content_block_start", "index": 0,
                   "content_block": {"type": "text", "text": ""}})
    for word in ("I'll ", "look ", "that ", "up."):
        events.append({"type": "content_block_delta", "index": 0,
                       "delta": {"type": "text_delta", "text": word}})
    events.append({"type": "content_block_stop", "index": 0})
    tool = {**MESSAGE["content"][1], "input": {}}
    events.append({"type": "content_block_start", "index": 1, "content_block": tool})
    for part in ('{"location": "San Fr', 'ancisco, CA", "unit": "celsius"}'):
        events.append({"type": "content_block_delta", "index": 1,
                       "delta": {"type": "input_json_delta", "partial_json": part}})
    events.append({"type": "content_block_stop", "index": 1})
    events.append({"type": "message_delta", "delta": {"stop_reason": "tool_use"},
                   "usage": {"output_tokens": 91}})
    events.append({"type": "message_stop"})
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


# -- the server (child process) ----------------------------------------------------------------


def _serve(port_pipe: Any, latency: float) -> None:
    body, stream_body = json.dumps(MESSAGE).encode(), _sse()

    async def messages(request: web.Request) -> web.Response:
        data = await request.read()
        await asyncio.sleep(latency)
        if b'"stream":true' in data:
            return web.Response(body=stream_body, content_type="text/event-stream",
                                headers={"request-id": HEADERS["request-id"]})
        return web.Response(body=body, content_type="application/json",
                            headers={"request-id": HEADERS["request-id"]})

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/v1/messages", messages)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        port_pipe.send(runner.addresses[0][1])
        await asyncio.Event().wait()

    asyncio.run(main())


# -- the clients --------------------------------------------------------------------------------

Request = Callable[[], Awaitable[Any]]
LATENCY = 0.2
_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)


async def scenario(name: str, url: str) -> tuple[Request, Callable[[], Awaitable[None]]]:
    """A one-request coroutine factory for `name`, and how to close its client."""
    payload = json.dumps(REQUEST).encode()
    headers = {"content-type": "application/json", "anthropic-version": "2023-06-01",
               "x-api-key": "bench-key"}
    if name == "aiohttp (raw loop)":
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1000))

        async def raw() -> Any:
            async with session.post(url + "/v1/messages", data=payload, headers=headers) as r:
                return json.loads(await r.read())

        return raw, session.close
    if name.startswith("httpx"):
        transport = AiohttpTransport(limits=_LIMITS) if "aiohttp" in name else None
        client = httpx.AsyncClient(transport=transport, limits=_LIMITS)

        async def via_httpx() -> Any:
            r = await client.post(url + "/v1/messages", content=payload, headers=headers)
            return json.loads(r.content)

        return via_httpx, client.aclose
    ours = AsyncClient(api_key="bench-key", base_url=url)
    closer = ours.aclose
    if "create_raw" in name:
        return (lambda: ours.create_raw(REQUEST)), closer
    if "stream" in name:

        async def streamed() -> Any:
            async with ours.stream(REQUEST) as stream:
                return await stream.get_final_message()

        return streamed, closer
    return (lambda: ours.create(REQUEST)), closer


SCENARIOS = [
    "aiohttp (raw loop)",
    "httpx 0.28 (own pool)",
    "httpx + httpx-aiohttp transport",
    "agentkit AsyncClient.create (default transport)",
    "agentkit AsyncClient.create_raw (default transport)",
    "agentkit AsyncClient.stream (default transport)",
]


async def measure(
    name: str, url: str, runs: int, requests: int, repeats: int
) -> tuple[float, float]:
    """The best of `repeats` rounds: client CPU ms per request, and wall seconds."""
    send, close = await scenario(name, url)
    best_cpu = best_wall = float("inf")
    try:
        await asyncio.gather(*(send() for _ in range(runs)))  # open the pool, warm the caches

        async def run() -> None:
            for _ in range(requests):
                await send()

        for _ in range(repeats):
            cpu, wall = time.process_time(), time.perf_counter()
            await asyncio.gather(*(run() for _ in range(runs)))
            best_cpu = min(best_cpu, time.process_time() - cpu)
            best_wall = min(best_wall, time.perf_counter() - wall)
            if best_wall > 5 * requests * LATENCY:
                break  # far off the target: one round says enough, and keeps the script short
    finally:
        await close()
    return best_cpu * 1000 / (runs * requests), best_wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--requests", type=int, default=5, help="sequential requests per run")
    parser.add_argument("--latency", type=float, default=0.2, help="server delay, seconds")
    parser.add_argument("--repeats", type=int, default=3, help="rounds; the best is shown")
    parser.add_argument(
        "--only", help="run only scenarios whose name contains this (the raw loop always runs)"
    )
    args = parser.parse_args()

    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=_serve, args=(child, args.latency), daemon=True)
    server.start()
    url = f"http://127.0.0.1:{parent.recv()}"
    ideal = args.requests * args.latency
    global LATENCY
    LATENCY = args.latency
    python = sys.version.split()[0]
    print(f"{args.runs} concurrent runs x {args.requests} requests, server latency "
          f"{args.latency * 1000:.0f} ms, ideal wall {ideal:.2f} s (Python {python}, "
          f"httpx {httpx.__version__}, aiohttp {aiohttp.__version__})\n")
    print(f"{'scenario':<52} {'CPU ms/req':>10} {'wall s':>7} {'x ideal':>8}")
    try:
        base = None
        for name in SCENARIOS:
            if args.only and args.only not in name and name != SCENARIOS[0]:
                continue
            cpu, wall = asyncio.run(measure(name, url, args.runs, args.requests, args.repeats))
            if name == SCENARIOS[0]:
                base = cpu
            ratio = f"   ({cpu / base:.1f}x raw CPU)" if base else ""
            print(f"{name:<52} {cpu:>10.2f} {wall:>7.2f} {wall / ideal:>8.1f}{ratio}", flush=True)
    finally:
        server.terminate()
        server.join()


if __name__ == "__main__":
    main()
