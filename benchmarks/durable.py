"""What durability costs a run: CPU per model turn with a `SQLiteStore` against without, and
how long a resume of a 50-turn run takes before its next model call.

Why: issue 9 allows checkpointing at most 10% CPU on top of `bench.py`'s figure 1 (the loop's
CPU per model turn), and a resume of a 50-turn run under 50 ms. It is a script, not a test:

    .venv/bin/python benchmarks/durable.py [--quick] [--dir PATH]

The shape is figure 1's: the same `FakeServer` in a child process, 20 rounds of 2 parallel
calls then a final text (21 requests), JSON, best of several repetitions taking turns. The
durable agent runs each repetition's runs under fresh `run_id`s in a store on `--dir` (a
temporary folder by default: use the disk you deploy on, fsync speed is the disk's), at
`synchronous="NORMAL"` (the default). Columns:

1. no store: `agent.run(prompt)`, the figure-1 loop;
2. store, idempotent tools: two journal writes per turn, the reply, then the two results
   together (NORMAL: no fsync); per run, the claim, the start, the fsynced end status and the
   release;
3. store, non-idempotent tools (the default): the reply's write also holds the batch's
   "started" mark;
4. the same at `synchronous="FULL"`: every write fsynced, the marks' in a worker thread (as
   shipped);
5. the same with the marks' write made on the event loop instead (for the thread decision).

The machine must be otherwise idle: CPU time per turn grows with the load of other processes
(caches, frequency), and the store's share with it; the load average is printed with the figures.

`--instructions` counts instead, for columns 1-3, the instructions the client process executes
per model turn, under valgrind's cachegrind (`valgrind` must be installed): a figure the load
does not move, 10 runs less 0 after the same warm-up. It leaves out the kernel's part (the
system calls: 2 `pwrite`s a turn, and per run the journal's creation and 2 SQLite commits) and
cache misses, which the CPU figures include.

Then a resume: a run stopped (by a hook) just before its 51st model call is resumed, timed from
`agent.run(run_id=...)` to the moment the next request is about to be sent (wall and CPU),
best of several.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _loops import MODEL, Server, add, multiply  # noqa: E402

from agentkit import Agent, AsyncClient, Hooks, Limits, SQLiteStore  # noqa: E402
from agentkit._run import durable  # noqa: E402

ROUNDS = 20
NO_STORE, IDEMPOTENT, NON_IDEMPOTENT = "no store", "store, idempotent", "store, non-idempotent"
COUNTED = 10
"""Runs per kind whose instructions `--instructions` counts."""


class Stop(BaseException):
    """Ends a run where a crash would (not an `Exception`, so nothing catches it)."""


def _agent(client: AsyncClient, idempotent: bool, hooks: Hooks | None = None) -> Agent[str]:
    tools = [t.replace(idempotent=idempotent) for t in (add, multiply)]
    return Agent(MODEL, tools=tools, client=client, limits=Limits(max_turns=1000),
                 hooks=hooks or Hooks())


async def _inline_starting(self: durable.Journal, calls: Any, tools: Any) -> None:
    ids = [c["id"] for c in calls if not tools[c["name"]].idempotent]
    if ids:
        self._pending.append(("tool_started", {"ids": ids}))  # pyright: ignore[reportPrivateUsage]
    self.flush()


async def cpu_per_turn(
    url: str, folder: Path, runs: int, reps: int, count: str | None = None
) -> dict[str, float]:
    client = AsyncClient(api_key="offline", base_url=url)
    normal = SQLiteStore(folder / "turns.db")
    full = SQLiteStore(folder / "full.db", synchronous="FULL")
    plain, idem, nonidem = _agent(client, False), _agent(client, True), _agent(client, False)
    threaded = durable.Journal.starting
    ids = itertools.count()
    prompt = f"rounds {ROUNDS}"

    async def run(kind: str) -> None:
        if kind == NO_STORE:
            await plain.run(prompt)
            return
        agent = idem if kind == IDEMPOTENT else nonidem
        store = full if "FULL" in kind else normal
        durable.Journal.starting = _inline_starting if kind.endswith("inline") else threaded
        await agent.run(prompt, run_id=f"r{next(ids)}", store=store)

    kinds = [NO_STORE, IDEMPOTENT, NON_IDEMPOTENT,
             "FULL, non-idempotent, marks in a thread", "FULL, non-idempotent, marks inline"]
    best = dict.fromkeys(kinds, float("inf"))
    for kind in kinds:
        await run(kind)  # warm up
    if count is not None:  # under cachegrind (`instructions`): the runs, not their time
        for _ in range(runs):
            await run(count)
        reps = 0
    for _ in range(reps):
        for kind in kinds:
            gc.collect()
            start = time.process_time()
            for _ in range(runs):
                await run(kind)
            best[kind] = min(best[kind], time.process_time() - start)
    durable.Journal.starting = threaded
    await client.aclose()
    normal.close()
    full.close()
    return {k: v * 1000 / (max(runs, 1) * (ROUNDS + 1)) for k, v in best.items()}


async def resume_time(url: str, folder: Path, reps: int) -> tuple[float, float, int]:
    """(wall ms, CPU ms) from `run(run_id=...)` to the 51st request, best of `reps`; and the
    journal's entry count."""
    client = AsyncClient(api_key="offline", base_url=url)
    store = SQLiteStore(folder / "resume.db")
    calls = 0

    def stop_at_51(ctx: Any, params: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 51:
            raise Stop

    prompt = "rounds 60"
    with contextlib.suppress(Stop):
        await _agent(client, False, Hooks(before_model=stop_at_51)).run(
            prompt, run_id="long", store=store
        )
    header = store.header("long")
    assert header is not None and header.turns == 50, header
    marks: list[tuple[float, float]] = []

    def reached(ctx: Any, params: Any) -> None:
        marks.append((time.perf_counter(), time.process_time()))
        raise Stop

    resumer = _agent(client, False, Hooks(before_model=reached))
    best_wall = best_cpu = float("inf")
    for _ in range(reps):
        gc.collect()
        wall, cpu = time.perf_counter(), time.process_time()
        with contextlib.suppress(Stop):
            await resumer.run(prompt, run_id="long", store=store)
        best_wall = min(best_wall, marks[-1][0] - wall)
        best_cpu = min(best_cpu, marks[-1][1] - cpu)
    await client.aclose()
    store.close()
    return best_wall * 1000, best_cpu * 1000, header.entries


def instructions(folder: Path | None) -> dict[str, float]:
    """Instructions per model turn of the client process, per kind (columns 1-3): each kind's
    `COUNTED` runs under cachegrind, less a count of the same process making none."""
    refs = re.compile(rb"I\s+refs:\s+([\d,]+)")
    per_turn: dict[str, float] = {}
    for kind in (NO_STORE, IDEMPOTENT, NON_IDEMPOTENT):
        counts: list[int] = []
        for runs in (0, COUNTED):
            command = ["valgrind", "--tool=cachegrind", "--cache-sim=no",
                       "--cachegrind-out-file=/dev/null", sys.executable, __file__,
                       "--count", kind, str(runs)]
            if folder is not None:
                command += ["--dir", str(folder)]
            done = subprocess.run(command, capture_output=True, check=True,
                                  env={**os.environ, "PYTHONHASHSEED": "0"})
            found = refs.search(done.stderr)
            assert found is not None, done.stderr.decode()[-2000:]
            counts.append(int(found.group(1).replace(b",", b"")))
        per_turn[kind] = (counts[1] - counts[0]) / (COUNTED * (ROUNDS + 1))
    return per_turn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--dir", type=Path, help="where the store files go (default: a temp dir)")
    parser.add_argument("--instructions", action="store_true",
                        help="count instructions per turn under cachegrind instead")
    parser.add_argument("--count", nargs=2, metavar=("KIND", "RUNS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.instructions:
        counted = instructions(args.dir)
        base = counted[NO_STORE]
        print(f"\n  instructions per model turn, client process, user space ({COUNTED} runs of "
              f"{ROUNDS + 1} turns under cachegrind)")
        for kind, n in counted.items():
            extra = "" if kind == NO_STORE else f"  +{(n / base - 1) * 100:.1f}%"
            print(f"    {kind:<40} {n / 1000:8.1f} k{extra}")
        return
    runs, reps = (2, 3) if args.quick else (4, 7)
    server = Server(latency=0.0)
    try:
        with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
            folder = Path(tmp)
            if args.count is not None:
                kind, counted = args.count
                asyncio.run(cpu_per_turn(server.url, folder, int(counted), 0, kind))
                return
            load = os.getloadavg()[0]
            cpu = asyncio.run(cpu_per_turn(server.url, folder, runs, reps))
            wall, resume_cpu, entries = asyncio.run(resume_time(server.url, folder, reps))
    finally:
        server.close()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}; SQLiteStore synchronous=NORMAL unless FULL; "
          f"load average {load:.2f} before, {os.getloadavg()[0]:.2f} after")
    base = cpu[NO_STORE]
    print(f"\n  CPU per model turn, {ROUNDS} rounds x 2 parallel calls, JSON (ms)")
    for kind, ms in cpu.items():
        extra = "" if kind == NO_STORE else f"  +{(ms / base - 1) * 100:.1f}%"
        print(f"    {kind:<40} {ms:6.3f}{extra}")
    print(f"\n  resume of a 50-turn run ({entries} journal entries) to its next model call: "
          f"{wall:.1f} ms wall, {resume_cpu:.1f} ms CPU (target < 50 ms)")


if __name__ == "__main__":
    main()
