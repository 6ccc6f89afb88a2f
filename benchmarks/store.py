"""The durable run store's costs: what a checkpoint and a resume read cost, and the file size.

Why: issue 9 allows checkpointing at most 10% CPU on top of a model turn (`bench.py` figure 1:
~0.5 ms of CPU per JSON turn, so ~50 µs for a turn's 2-4 appends) and a resume of a 50-turn run
under 50 ms before the next model call. It is a script, not a test:

    .venv/bin/python benchmarks/store.py [--appends 2000] [--dir PATH]

Figures, on a real file in `--dir` (default: a temporary folder; use the disk you deploy on,
since fsync speed is the disk's), each best of 3:

1. wall and CPU µs per append, `synchronous` FULL and NORMAL: a ~2 KB reply with a summary
   update; a ~600 B tool_result without one; and a whole turn (reply, tool_started,
   tool_result; the tool_started mark is fsynced at every level).
2. Reading a 50-turn run's journal (151 entries: start, then per turn reply, tool_started,
   tool_result), and the store's part of a resume: open the file, claim the run, read it.
3. The file's size for that run, WAL included and after a checkpoint.
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Literal

from agentkit._durable.journal import EntryKind, Lease, Summary
from agentkit._durable.sqlite import SQLiteStore

TEXT = "The order was charged and the receipt was emailed to the customer. " * 25  # ~1.7 KB


def reply(turn: int) -> dict[str, object]:
    return {
        "id": f"msg_{turn:024d}",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [
            {"type": "text", "text": TEXT},
            {
                "type": "tool_use",
                "id": f"toolu_{turn:024d}",
                "name": "charge",
                "input": {"order": turn, "amount_cents": 1299, "currency": "EUR"},
            },
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 1200 + 40 * turn,
            "output_tokens": 180,
            "cache_read_input_tokens": 0,
            "cache_creation_input_tokens": 0,
        },
    }


def turn_entries(turn: int) -> list[tuple[EntryKind, dict[str, object]]]:
    tool_id = f"toolu_{turn:024d}"
    result: dict[str, object] = {
        "type": "tool_result",
        "tool_use_id": tool_id,
        "content": TEXT[:600],
    }
    return [
        ("reply", reply(turn)),
        ("tool_started", {"tool_use_id": tool_id}),
        ("tool_result", result),
    ]


def summary(turn: int) -> Summary:
    return Summary(
        turns=turn + 1,
        input_tokens=1200 * (turn + 1),
        output_tokens=180 * (turn + 1),
        cost_usd=0.0063 * (turn + 1),
    )


def write_run(store: SQLiteStore, lease: Lease, turns: int) -> None:
    store.append(lease, "start", {"messages": [{"role": "user", "content": "Charge orders"}]})
    for turn in range(turns):
        for kind, payload in turn_entries(turn):
            store.append(lease, kind, payload, summary=summary(turn))


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall, CPU) seconds of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


Turn = tuple[list[tuple[EntryKind, dict[str, object]]], Summary]
Pattern = Callable[[SQLiteStore, Lease, Turn], None]


def with_summary(store: SQLiteStore, lease: Lease, turn: Turn) -> None:
    store.append(lease, *turn[0][0], summary=turn[1])


def without_summary(store: SQLiteStore, lease: Lease, turn: Turn) -> None:
    store.append(lease, *turn[0][2])


def one_turn(store: SQLiteStore, lease: Lease, turn: Turn) -> None:
    store.append(lease, *turn[0][0], summary=turn[1])
    store.append(lease, *turn[0][1])  # a tool_started mark: fsynced at every level
    store.append(lease, *turn[0][2])


def cost(
    folder: Path, sync: Literal["FULL", "NORMAL"], pattern: Pattern, n: int
) -> tuple[float, float]:
    """Best of 3 (wall, CPU) µs per call of `pattern`, on a fresh file each time; payloads
    are built before the clock starts."""
    turns = [(turn_entries(t), summary(t)) for t in range(n)]
    best = (float("inf"), float("inf"))
    for rep in range(3):
        path = folder / f"{pattern.__name__}-{sync}-{rep}.db"
        with SQLiteStore(path, synchronous=sync) as store:
            lease = store.claim("bench", fingerprint="f", model="m", agent="a").lease
            write_run(store, lease, 10)  # warm up: statements prepared, pages cached
            wall, cpu = timed(lambda s=store, held=lease: [pattern(s, held, t) for t in turns])
        best = (min(best[0], wall / n * 1e6), min(best[1], cpu / n * 1e6))
    return best


def read_cost(folder: Path) -> tuple[float, float, int, int]:
    """(µs to read the journal, µs to open the store, claim the run and read it, bytes with
    the WAL, bytes after a checkpoint) for one 50-turn run alone in a file."""
    path = folder / "read.db"
    with SQLiteStore(path) as store:
        lease = store.claim("run50", fingerprint="f", model="m", agent="a").lease
        write_run(store, lease, 50)
        store.release(lease)
        assert len(store.entries("run50")) == 151
        read = min(timed(lambda: store.entries("run50"))[0] for _ in range(30))
        with_wal = sum(p.stat().st_size for p in folder.glob("read.db*"))
    resumes: list[float] = []
    for _ in range(30):
        wall = time.perf_counter()
        with SQLiteStore(path) as store:
            lease = store.claim("run50", fingerprint="f", model="m", agent="a").lease
            store.entries("run50")
            resumes.append(time.perf_counter() - wall)
            store.release(lease)
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return read * 1e6, min(resumes) * 1e6, with_wal, path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--appends", type=int, default=1500)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as name:
        folder = Path(name)
        print(
            f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
            f"SQLite {sqlite3.sqlite_version}, in {folder}"
        )
        print("| figure | wall | CPU |\n| --- | --- | --- |")
        patterns: list[tuple[str, Pattern, int]] = [
            ("append with a summary update (a reply)", with_summary, args.appends),
            ("append without one (a tool_result)", without_summary, args.appends),
            ("a turn: reply + tool_started + tool_result", one_turn, args.appends // 3),
        ]
        for label, pattern, n in patterns:
            for sync in ("FULL", "NORMAL"):
                wall, cpu = cost(folder, sync, pattern, n)
                print(f"| 1. {label}, WAL + {sync} | {wall:.0f} µs | {cpu:.0f} µs |")
        read, resume, with_wal, checkpointed = read_cost(folder)
        print(f"| 2. read a 50-turn journal (151 entries) | {read:.0f} µs | |")
        print(f"| 2. open the store, claim the run, read it | {resume:.0f} µs | |")
        print(
            f"| 3. the file for that run: with its WAL / after a checkpoint | "
            f"{with_wal / 1024:.0f} KiB / {checkpointed / 1024:.0f} KiB | |"
        )


if __name__ == "__main__":
    main()
