"""CPU per model turn as concurrency grows: agentkit against the raw aiohttp loop.

Why: one worker process must stay efficient with thousands of runs in flight (issue 10,
"Measure"): CPU per turn must stay flat as concurrency grows, within 1.5x of the raw loop at
3,000 concurrent runs. It is a script, not a test:

    .venv/bin/python benchmarks/conc.py [--runs 1,100,1000,3000] [--tools async|sync]
                                        [--profile N]

The shape: each run is 5 rounds of 2 parallel tool calls, then a final text (6 requests), at
100 ms model latency. The model is `_loops.play` in `_loops.Server` (agentkit's `FakeServer`
in a spawned process, pinned to the second core when there is one). Each measurement is a
fresh spawned client process pinned to one core: it warms up (a few runs), then starts N runs
at once (N = 1 repeats a single run 30 times) and reads `time.process_time()` around them:
CPU per turn = client CPU / requests made. The raw loop (`_loops.raw_run`, one
`aiohttp.ClientSession` with a pool of 1,000) and agentkit (`Agent` with the default
`AsyncClient`) take turns at each N. `--tools sync` writes agentkit's tools as plain `def`
(run in worker threads); the raw loop's stay coroutines. `--profile N` runs agentkit once at
N under pyinstrument (if installed) and prints where the time went. `--gc0 N` makes both
clients do what a process driving thousands of runs may choose: `gc.freeze()` after the
imports and a gen-0 garbage-collection threshold of N (the default is 700).

Also printed per measurement: wall time (the machine's other load shows there first), the TCP
connections the client opened (warm-up included: a churning pool shows), the server's CPU per
turn (is it keeping up?) and the client's CPU per turn spent in garbage collection;
`--gc-detail` adds, per generation, the collections per 1,000 turns, their CPU per turn and the
unreachable objects they found (`gc.get_stats()`: none means no reference cycles to collect).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _loops import MODEL, Server, raw_run  # noqa: E402

ROUNDS = 5
LATENCY = 0.1
TARGET = 1.5


def _pin(core: int) -> None:
    """Run this process on one core (the benchmark's shape), when the OS allows it."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if cores:
        os.sched_setaffinity(0, {cores[core % len(cores)]})


def _sync_add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def _sync_multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


def _agent(url: str, sync_tools: bool) -> tuple[Any, Any]:
    """A client and the agent of `_loops` (its tools, or the same ones as plain `def`s)."""
    from _loops import add, multiply

    from agentkit import Agent, AsyncClient, Limits, tool

    tools = [tool(name="add")(_sync_add), tool(name="multiply")(_sync_multiply)]
    client = AsyncClient(api_key="offline", base_url=url)
    agent = Agent(
        MODEL, tools=tools if sync_tools else [add, multiply], client=client,
        limits=Limits(max_turns=100),
    )
    return client, agent


async def _measure(
    url: str, kind: str, runs: int, sync_tools: bool, profile: bool
) -> dict[str, float]:
    import aiohttp

    prompt = f"rounds {ROUNDS}"
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1000))
    client, agent = _agent(url, sync_tools) if kind == "agentkit" else (None, None)

    async def one() -> Any:
        if agent is not None:
            return (await agent.run(prompt)).text
        return await raw_run(session, url + "/v1/messages", prompt, stream=False)

    await asyncio.gather(*(one() for _ in range(min(runs, 20))))  # warm up: code paths, pool
    waves, at_once = (30, 1) if runs == 1 else (1, runs)
    profiler: Any = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler(async_mode="disabled")
        profiler.start()
    gc.collect()
    gc_cpu = [0.0, 0.0]
    by_gen = [0.0, 0.0, 0.0]
    stats = gc.get_stats()

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_cpu[1] = time.process_time()
        else:
            spent = time.process_time() - gc_cpu[1]
            gc_cpu[0] += spent
            by_gen[info["generation"]] += spent

    gc.callbacks.append(on_gc)
    cpu, wall = time.process_time(), time.perf_counter()
    done = 0
    for _ in range(waves):
        done += len(await asyncio.gather(*(one() for _ in range(at_once))))
    wall = time.perf_counter() - wall
    cpu = time.process_time() - cpu
    gc.callbacks.remove(on_gc)
    if profiler is not None:
        profiler.stop()
        print(profiler.output_text(unicode=False, color=False, show_all=False))
    await session.close()
    if client is not None:
        await client.aclose()
    turns = done * (ROUNDS + 1)
    out = {"cpu_ms": cpu * 1000 / turns, "wall": wall, "turns": turns,
           "gc_ms": gc_cpu[0] * 1000 / turns}
    for gen, (before, after) in enumerate(zip(stats, gc.get_stats(), strict=True)):
        out[f"gen{gen}"] = (after["collections"] - before["collections"]) * 1000 / turns
        out[f"gen{gen}_ms"] = by_gen[gen] * 1000 / turns
        out[f"gen{gen}_found"] = after["collected"] - before["collected"]
    return out


def _count_connections() -> list[int]:
    """Count the TCP connections this process opens (aiohttp opens each through the loop's
    `create_connection`): a pool that churns shows as many more than the runs in flight."""
    opened = [0]
    original = asyncio.BaseEventLoop.create_connection

    async def create_connection(self: Any, *args: Any, **kwargs: Any) -> Any:
        opened[0] += 1
        return await original(self, *args, **kwargs)

    asyncio.BaseEventLoop.create_connection = create_connection  # type: ignore[method-assign]
    return opened


def _child(
    url: str, kind: str, runs: int, sync_tools: bool, profile: bool, gc0: int | None, pipe: Any
) -> None:
    _pin(0)
    if gc0 is not None:  # what a process running thousands of runs may choose to do
        gc.freeze()
        gc.set_threshold(gc0, *gc.get_threshold()[1:])
    opened = _count_connections()
    out = asyncio.run(_measure(url, kind, runs, sync_tools, profile))
    out["connections"] = opened[0]
    pipe.send(out)


def measure(
    server: Server, kind: str, runs: int, sync_tools: bool, profile: bool = False,
    gc0: int | None = None,
) -> dict[str, float]:
    """One measurement in a fresh spawned client process, with the connections it opened
    (warm-up included)."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(
        target=_child, args=(server.url, kind, runs, sync_tools, profile, gc0, child)
    )
    served = server.cpu()
    proc.start()
    out: dict[str, float] = parent.recv()
    proc.join()
    out["server_ms"] = (server.cpu() - served) * 1000 / out["turns"]  # warm-up included
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", default="1,100,1000,3000", help="concurrent runs to measure")
    parser.add_argument("--tools", choices=("async", "sync"), default="async")
    parser.add_argument("--reps", type=int, default=1, help="measurements per cell (best kept)")
    parser.add_argument("--profile", type=int, metavar="N", help="profile agentkit at N runs")
    parser.add_argument(
        "--gc0", type=int, metavar="N",
        help="in both clients: gc.freeze() after the imports, and N as the gen-0 GC threshold",
    )
    parser.add_argument(
        "--gc-detail", action="store_true",
        help="also print each generation's collections per 1,000 turns, their CPU per turn and "
        "the unreachable objects they found",
    )
    args = parser.parse_args()
    sync_tools = args.tools == "sync"
    server = Server(latency=LATENCY, core=1)
    try:
        if args.profile:
            measure(server, "agentkit", args.profile, sync_tools, profile=True)
            return
        print(f"{ROUNDS} rounds of 2 parallel calls, {LATENCY * 1000:.0f} ms latency, client on "
              f"one core, agentkit tools {args.tools}; best of {args.reps}"
              + ("" if args.gc0 is None else f"; gc.freeze(), gen-0 threshold {args.gc0}"))
        print(f"  {'runs':>6} {'agentkit ms/turn':>17} {'raw ms/turn':>12} {'ratio':>7} "
              f"{'wall ak/raw (s)':>16} {'conns ak/raw':>13} {'server ms/turn':>15} "
              f"{'gc ms/turn':>12}")
        for runs in (int(n) for n in args.runs.split(",")):
            best: dict[str, dict[str, float]] = {}
            for _ in range(args.reps):
                for kind in ("raw", "agentkit"):  # taking turns: drift hits both alike
                    got = measure(server, kind, runs, sync_tools, gc0=args.gc0)
                    if kind not in best or got["cpu_ms"] < best[kind]["cpu_ms"]:
                        best[kind] = got
            ak, raw = best["agentkit"], best["raw"]
            ratio = ak["cpu_ms"] / raw["cpu_ms"]
            verdict = ""
            if runs >= 3000:
                verdict = "  met" if ratio <= TARGET else f"  MISSED ({TARGET}x target)"
            print(f"  {runs:>6} {ak['cpu_ms']:>17.3f} {raw['cpu_ms']:>12.3f} {ratio:>6.2f}x "
                  f"{ak['wall']:>7.2f}/{raw['wall']:<8.2f} {ak['connections']:>6.0f}/"
                  f"{raw['connections']:<6.0f} {ak['server_ms']:>7.2f}/{raw['server_ms']:<7.2f} "
                  f"{ak['gc_ms']:>5.3f}/{raw['gc_ms']:<5.3f}{verdict}",
                  flush=True)
            if args.gc_detail:
                for kind, got in (("agentkit", ak), ("raw", raw)):
                    gens = "; ".join(
                        f"gen {g}: {got[f'gen{g}']:.1f} ({got[f'gen{g}_ms']:.3f} ms, "
                        f"{got[f'gen{g}_found']:.0f} found)" for g in range(3)
                    )
                    print(f"         {kind:>8} collections per 1,000 turns: {gens}")
    finally:
        server.close()


if __name__ == "__main__":
    main()
