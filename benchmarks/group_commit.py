"""Many durable runs on one event loop: wall and CPU at `synchronous="FULL"` against "NORMAL".

Why: at FULL every checkpoint must reach the disk before what depends on it goes on. Made on
the event loop, each fsync (~2.5 ms of waiting on this VM's disk) stopped every other run on
the loop: 400 gathered runs took 11 s at FULL against 0.8 s at NORMAL (issue 9). The store's
syncer (`agentkit/_durable/syncer.py`) makes them in threads, many commits to one fsync, while
the loop goes on. It is a script, not a test:

    .venv/bin/python benchmarks/group_commit.py [--runs 100,400] [--rounds 5] [--dir PATH]
                                                [--reps 3]

The shape: N runs gathered at once (`asyncio.gather`), each `--rounds` rounds of 2 parallel
non-idempotent tool calls then a final text (so per turn a reply with its started mark, then
two results), against `_loops.Server` (agentkit's `FakeServer` in a spawned process, no
latency) through one `AsyncClient`, in a store on `--dir` (use the disk you deploy on: the
fsync's wait is the disk's). Each level runs N runs, best of `--reps` (a fresh store each
time), the two levels taking turns after a warm-up. Printed: wall and CPU (this process, every
thread: the syncer's fsyncs count) per batch, and per model turn.

To measure another checkout with the same script (before/after), point `AGENTKIT_ROOT` at it.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Literal

HERE = Path(__file__).resolve().parent
ROOT = Path(os.environ.get("AGENTKIT_ROOT") or HERE.parent)
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from _loops import MODEL, Server, add, multiply  # noqa: E402

import agentkit  # noqa: E402
from agentkit import Agent, AsyncClient, Limits, SQLiteStore  # noqa: E402

Level = Literal["FULL", "NORMAL"]


async def batch(
    url: str, folder: Path, level: Level, runs: int, rounds: int, tag: str
) -> tuple[float, float]:
    """(wall s, CPU s) of `runs` runs gathered in a fresh store at `level`."""
    store = SQLiteStore(folder / f"{tag}.db", synchronous=level)
    async with AsyncClient(api_key="offline", base_url=url, max_retries=0) as client:
        agent = Agent(MODEL, tools=[add, multiply], client=client, limits=Limits(max_turns=100))
        wall, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(
            *(agent.run(f"rounds {rounds}", run_id=f"{tag}-{i}", store=store) for i in range(runs))
        )
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    store.close()
    return wall, cpu


async def measure(url: str, folder: Path, sizes: list[int], rounds: int, reps: int) -> None:
    tags = itertools.count()
    await batch(url, folder, "FULL", 10, rounds, f"warm{next(tags)}")
    await batch(url, folder, "NORMAL", 10, rounds, f"warm{next(tags)}")
    turns = rounds + 1
    for runs in sizes:
        best: dict[Level, tuple[float, float]] = {}
        for _ in range(reps):
            for level in ("NORMAL", "FULL"):
                wall, cpu = await batch(url, folder, level, runs, rounds, f"b{next(tags)}")
                old = best.get(level)
                best[level] = (min(wall, old[0]), min(cpu, old[1])) if old else (wall, cpu)
        for level, (wall, cpu) in best.items():
            per_turn = cpu / (runs * turns) * 1e6
            print(
                f"    {runs:>5} runs  {level:<6}  wall {wall:6.2f} s   CPU {cpu:6.2f} s   "
                f"CPU per turn {per_turn:6.0f} us"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", default="100,400", help="batch sizes, comma-separated")
    parser.add_argument("--rounds", type=int, default=5, help="tool rounds per run")
    parser.add_argument("--reps", type=int, default=3, help="batches per size and level")
    parser.add_argument("--dir", type=Path, help="where the stores go (default: a temp dir)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="group-commit-", dir=args.dir))
    load = os.getloadavg()[0]
    print(
        f"agentkit from {Path(agentkit.__file__).parent.parent}; {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; store folder {folder}; "
        f"load average {load:.2f}"
    )
    print(
        f"  N runs gathered, {args.rounds} rounds of 2 parallel non-idempotent calls then a "
        f"text ({args.rounds + 1} turns a run), best of {args.reps}:"
    )
    server = Server(latency=0.0)
    try:
        sizes = [int(n) for n in args.runs.split(",")]
        asyncio.run(measure(server.url, folder, sizes, args.rounds, args.reps))
    finally:
        server.close()
        shutil.rmtree(folder, ignore_errors=True)
    print(f"  load average {os.getloadavg()[0]:.2f} after")


if __name__ == "__main__":
    main()
