"""The run viewer's reads (`agentkit ui`) on a store of thousands of runs.

Why: issue 12 asks that thousands of runs stay fast in the viewer's list (paged). It is a
script, not a test:

    .venv/bin/python benchmarks/viewer.py [--runs 5000] [--turns 4] [--dir PATH]

It fills a store with `--runs` runs (each: a prompt, `--turns` turns of a reply and a tool
result, an end status; statuses mixed) through `SQLiteStore`, then prints the wall time of
each read the page makes, best of 5 (ms), through the viewer's `RunReader`:

1. the list: the first page of 50, a middle page, the last page; filtered by status; filtered
   by text (which searches each run's prompt too: the slowest);
2. one run: its journal read and built into the timeline, for a run of `--turns` turns and for
   one of 50 turns, JSON encoded as the server sends it;
3. the live feed's check of one run (twice a second per open page).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from agentkit import SQLiteStore
from agentkit._durable.journal import STATUSES, EntryKind, RunStatus, Summary
from agentkit.cli.viewer import RunReader
from agentkit.cli.viewer.timeline import timeline

TEXT = "The order was charged and the receipt was emailed to the customer. " * 10


def turn(n: int) -> list[tuple[EntryKind, dict[str, object]]]:
    call = f"toolu_{n:024d}"
    reply: dict[str, object] = {
        "id": f"msg_{n:024d}", "type": "message", "role": "assistant",
        "model": "claude-sonnet-4-5", "stop_reason": "tool_use", "stop_sequence": None,
        "content": [{"type": "text", "text": TEXT},
                    {"type": "tool_use", "id": call, "name": "charge", "input": {"order": n}}],
        "usage": {"input_tokens": 1200 + 40 * n, "output_tokens": 180},
    }
    result: dict[str, object] = {"type": "tool_result", "tool_use_id": call, "content": TEXT}
    return [("reply", reply), ("tool_result", result)]


def fill(store: SQLiteStore, run_id: str, turns: int, status: RunStatus, n: int) -> None:
    lease = store.claim(run_id, fingerprint="f", model="claude-sonnet-4-5", agent="bench").lease
    prompt = {"role": "user", "content": f"Charge order {n} of customer {n * 7}"}
    entries: list[tuple[EntryKind, dict[str, object]]] = [
        ("start", {"messages": [prompt], "seed": n})
    ]
    for t in range(turns):
        entries.extend(turn(t))
    entries.append(("status", {"status": status, "reason": "end_turn"}))
    summary = Summary(status=status, turns=turns, input_tokens=1000 * turns,
                      output_tokens=180 * turns, cost_usd=0.01 * turns)
    store.append_many(lease, entries, summary=summary)
    store.release(lease)


def view(reader: RunReader, run_id: str) -> bytes:
    """What the server does for `/api/run`: read the run, build its timeline, encode it."""
    found = reader.run(run_id)
    assert found is not None
    return orjson.dumps(timeline(found[0], found[1], now=time.time()))


def best(action: Callable[[], object], times: int = 5) -> float:
    laps: list[float] = []
    for _ in range(times):
        start = time.perf_counter()
        action()
        laps.append(time.perf_counter() - start)
    return min(laps) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description="The run viewer's reads on thousands of runs.")
    parser.add_argument("--runs", type=int, default=5000)
    parser.add_argument("--turns", type=int, default=4)
    parser.add_argument("--dir", default=None, help="where the store file goes")
    args = parser.parse_args()
    done: list[RunStatus] = [s for s in STATUSES if s != "running"]
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        path = Path(folder) / "runs.db"
        began = time.perf_counter()
        with SQLiteStore(path) as store:
            for n in range(args.runs):
                fill(store, f"run-{n:06d}", args.turns, done[n % len(done)], n)
            fill(store, "long-run", 50, "finished", args.runs)
        print(f"store: {args.runs:,} runs of {args.turns} turns, "
              f"{path.stat().st_size / 1e6:.1f} MB, filled in {time.perf_counter() - began:.1f} s")
        reader = RunReader(path, clock=time.time)
        last = (args.runs // 50) * 50
        rows = [
            ("list: first page of 50", lambda: reader.page(limit=50)),
            ("list: a middle page", lambda: reader.page(limit=50, offset=args.runs // 2)),
            ("list: the last page", lambda: reader.page(limit=50, offset=last)),
            ("list: status=failed", lambda: reader.page(status="failed", limit=50)),
            ("list: text 'customer 7777' (ids, agents, models, prompts)",
             lambda: reader.page(text="customer 7777", limit=50)),
            (f"one run of {args.turns} turns: read, timeline, JSON",
             lambda: view(reader, "run-000001")),
            ("one run of 50 turns: read, timeline, JSON", lambda: view(reader, "long-run")),
            ("live feed: one check of a run", lambda: reader.version("run-000001")),
        ]
        for label, action in rows:
            print(f"{label:<58} {best(action):8.2f} ms")
        reader.close()


if __name__ == "__main__":
    main()
