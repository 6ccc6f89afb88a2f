"""What tracing costs per model turn: a run not instrumented, instrumented on the API alone (no
SDK: every span a no-op), on the SDK with an in-memory exporter, and with content captured.

Why: `agentkit.instrument()` must cost nothing until it is called (issue 12), and what it costs
once called should be known. It is a script, not a test:

    .venv/bin/python benchmarks/otel.py [--runs 20] [--rounds 10] [--reps 5]

Each run is `rounds` rounds of 2 parallel tool calls then a text, in process on a
`ScriptedTransport` (no socket: the figure is the client's CPU, `time.process_time()`, per
model request). The modes are interleaved and each figure is the best of `reps`, so load from
other processes hits them alike. The seam's own cost when nothing observes (what every run
pays) is timed alone with `timeit`: entering the no-op observer per run, one attribute check
per step.
"""

from __future__ import annotations

import argparse
import sys
import time
import timeit
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import agentkit
import agentkit.otel
from agentkit import Agent, AsyncClient, tool
from agentkit._run import observe
from agentkit.testing import ScriptedTransport, reply, text_reply

MODEL = "claude-sonnet-4-5"


@tool
async def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def script(rounds: int) -> list[Any]:
    steps: list[Any] = [
        reply(tool_calls=[("add", {"a": i, "b": 1}), ("add", {"a": i, "b": 2})])
        for i in range(rounds)
    ]
    return [*steps, text_reply("Done.")]


async def cpu_per_turn(runs: int, rounds: int) -> float:
    """Client CPU ms per model request over `runs` runs."""
    transport = ScriptedTransport([s for _ in range(runs) for s in script(rounds)])
    async with AsyncClient(api_key="sk-bench", transport=transport, max_retries=0) as client:
        agent = Agent(MODEL, client=client, tools=[add], name="bench")
        start = time.process_time()
        for _ in range(runs):
            await agent.run("Add things.")
        spent = time.process_time() - start
    return 1000 * spent / (runs * (rounds + 1))


def sdk_instrument(capture: bool) -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    agentkit.instrument(
        tracer_provider=tracer_provider, meter_provider=meter_provider, capture_content=capture
    )


MODES = {
    "not instrumented": agentkit.otel.uninstrument,
    "instrument(), API only (no SDK)": lambda: agentkit.instrument(),
    "instrument(), SDK + in-memory exporter": lambda: sdk_instrument(False),
    "  + capture_content=True": lambda: sdk_instrument(True),
}


def seam_costs() -> tuple[float, float]:
    """ns per run of entering the no-op observer, ns per step of the driver's check."""
    observe.OBSERVER = None

    async def enter_many(n: int) -> None:
        for _ in range(n):
            async with observe.run("bench", None, MODEL, None):
                pass

    n = 200_000
    start = time.perf_counter()
    anyio.run(enter_many, n)
    per_run = 1e9 * (time.perf_counter() - start) / n

    class Turn:
        __slots__ = ("observed",)

        def __init__(self) -> None:
            self.observed = None

    turn = Turn()
    checks = timeit.timeit("turn.observed is not None", globals={"turn": turn}, number=2_000_000)
    return per_run, 1e9 * checks / 2_000_000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()

    best = dict.fromkeys(MODES, float("inf"))
    for setup in MODES.values():  # warm-up: imports, caches, the first tracer and meter
        setup()
        anyio.run(cpu_per_turn, 2, args.rounds)
    for _ in range(args.reps):
        for name, setup in MODES.items():
            setup()
            best[name] = min(best[name], anyio.run(cpu_per_turn, args.runs, args.rounds))
    agentkit.otel.uninstrument()
    per_run, per_check = seam_costs()

    base = best["not instrumented"]
    print(f"client CPU per model request, best of {args.reps} ({args.runs} runs x "
          f"{args.rounds + 1} requests, 2 tool calls a round), in process:")
    for name, ms in best.items():
        print(f"  {name:<42} {ms:6.3f} ms   {ms / base:5.2f}x")
    print("the observer seam when nothing observes (what every run pays):")
    print(f"  entering the no-op observer, per run        {per_run:6.0f} ns")
    print(f"  the driver's check, per step (~4 a turn)    {per_check:6.1f} ns"
          f"   = {100 * 4 * per_check / (base * 1e6):.3f}% of a turn")


if __name__ == "__main__":
    main()
