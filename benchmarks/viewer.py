"""The run viewer's reads (`agentkit ui`) on a store of thousands of runs.

Why: issue 12 asks that thousands of runs stay fast in the viewer's list (paged). It is a
script, not a test:

    .venv/bin/python benchmarks/viewer.py [--runs 5000] [--turns 4] [--dir PATH]

It fills a store with `--runs` runs (each: a prompt, `--turns` turns of a reply and a tool
result, an end status; statuses mixed, a fifth left "running" by a process that is gone) through
`SQLiteStore`, plus 10 runs this process holds while it measures, then prints the wall time of
each read the page makes, best of 5 (ms), through the viewer's `RunReader`:

1. the list: the first page of 50, a middle page, the last page; filtered by status; filtered
   by text (which searches each run's prompt too, read from the first record of each journal
   by a fresh reader, then remembered);
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


def fill(
    store: SQLiteStore, run_id: str, turns: int, status: RunStatus, n: int, *, hold: bool = False
) -> None:
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
    if not hold:  # a held run stays running, its journal locked, until the store closes
        store.release(lease)


def view(reader: RunReader, run_id: str) -> bytes:
    """What the server does for `/api/run`: read the run, build its timeline, encode it."""
    found = reader.run(run_id)
    assert found is not None
    return orjson.dumps(timeline(found[0], found[1], now=time.time()))


def cold(path: Path) -> None:
    """A text search by a new reader: every prompt read from its journal's first record."""
    fresh = RunReader(path, clock=time.time)
    try:
        fresh.page(text="customer 7777", limit=50)
    finally:
        fresh.close()


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
    statuses: list[RunStatus] = list(STATUSES)
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        path = Path(folder) / "runs.db"
        began = time.perf_counter()
        store = SQLiteStore(path)
        for n in range(args.runs):
            fill(store, f"run-{n:06d}", args.turns, statuses[n % len(statuses)], n)
        fill(store, "long-run", 50, "finished", args.runs)
        for n in range(10):
            fill(store, f"live-{n}", args.turns, "running", n, hold=True)
        size = sum(f.stat().st_size for f in Path(folder).rglob("*") if f.is_file())
        print(f"store: {args.runs:,} runs of {args.turns} turns, {size / 1e6:.1f} MB with "
              f"their journals, filled in {time.perf_counter() - began:.1f} s")
        reader = RunReader(path, clock=time.time)
        last = (args.runs // 50) * 50
        rows = [
            ("list: first page of 50", lambda: reader.page(limit=50)),
            ("list: a middle page", lambda: reader.page(limit=50, offset=args.runs // 2)),
            ("list: the last page", lambda: reader.page(limit=50, offset=last)),
            ("list: status=failed", lambda: reader.page(status="failed", limit=50)),
            ("list: status=running (the 10 held)", lambda: reader.page(status="running")),
            ("list: text, a fresh reader (reads every journal's prompt)", lambda: cold(path)),
            ("list: text 'customer 7777' (ids, agents, models, prompts)",
             lambda: reader.page(text="customer 7777", limit=50)),
            (f"one run of {args.turns} turns: read, timeline, JSON",
             lambda: view(reader, "run-000001")),
            ("one run of 50 turns: read, timeline, JSON", lambda: view(reader, "long-run")),
            ("live feed: one check of a run", lambda: reader.version("run-000001")),
            ("live feed: one check of a running run", lambda: reader.version("live-0")),
        ]
        for label, action in rows:
            print(f"{label:<58} {best(action):8.2f} ms")
        assert reader.page(status="running").total == 10
        reader.close()
        store.close()


if __name__ == "__main__":
    main()
