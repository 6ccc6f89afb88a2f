"""What durability costs: CPU per model turn with a `SQLiteStore` against without, split into a
cost per run and per turn, and how long a 50-turn run's resume takes to its next model call.

Why: issue 9 allows checkpointing at most 10% CPU per turn on top of `bench.py`'s figure 1 (the
loop's CPU per model turn), and a resume of a 50-turn run under 50 ms. It is a script, not a test:

    .venv/bin/python benchmarks/durable.py [--quick] [--processes N] [--dir PATH]

The shape is figure 1's: the same `FakeServer` in a child process, 20 rounds of 2 parallel
calls then a final text (21 requests), JSON. The durable agent runs under fresh `run_id`s in a
store on `--dir` (the system's temporary folder by default: use the disk you deploy on), at
`synchronous="NORMAL"` (the default). Kinds:

1. no store: `agent.run(prompt)`, the figure-1 loop;
2. store, idempotent tools: per turn the reply, then the two results; per run the claim (a new
   journal file), the start entry, the end status and the release;
3. store, non-idempotent tools (the default): the reply's write also holds the batch's
   "started" mark;
4. the same at `synchronous="FULL"`: every write fsynced by the store's syncer threads, the
   run awaiting the news where the rules need it (as shipped: the loop never waits for disks);
5. the same with each fsync made on the event loop as its write returns (the design before
   the syncer: the loop waits for the disk, a thread hop's CPU saved);
6. and 7. no store and store (non-idempotent) with `Agent(stream=True)`: figure 1's SSE
   column (a streamed turn costs more, the journal's share is smaller);
8. no store again, with an agent of its own: the control. It runs exactly kind 1's code, so
   its "extra" is the protocol's own error (where a kind sits in memory and in the rotation),
   printed beside the others: a store's figure means something only well beyond it.

The protocol, and why:

- **Several processes, each with its own fixed hash seed.** For identical code the ratio moved
  1.04-1.31 between processes, mostly with Python's hash randomization (dict layouts); with one
  fixed `PYTHONHASHSEED` it held within a few points. So one process is one sample: `N`
  child processes (`--processes`, default 5) run one after the other with `PYTHONHASHSEED`
  0..N-1 (a rerun is comparable), each all kinds taking turns, best of `--reps`. A ratio is
  computed within each process; printed are the medians over processes and their min-max.
- **A cost per run and a cost per turn.** Each kind (1-3) also runs `rounds 0` (one turn): a
  durable run's extra CPU at 1 turn is its per-run part (claim, journal file, start, end,
  release, and its one reply), the difference of the slopes (21 turns less 1, per turn) its
  per-turn part; the 21-turn extra is exactly the first plus 20 times the second. Long runs tend
  to the per-turn share; short ones pay the per-run part.
- **The folder is printed, and what creating a file costs there.** A run creates its journal
  file: ~6 us of CPU on tmpfs, 13-560 us on this VM's ext4, the more inodes were deleted there
  in the last minutes (ext4 scans them; this script deletes nothing before the end, so a rerun
  within minutes starts slower). The mean CPU of `os.open(O_CREAT | O_EXCL)` of 200 files in a
  fresh subfolder is printed at the start, before each process and at the end.
- **An idle machine.** CPU per turn grows with other processes' load (caches, frequency), and
  the store's share with it; the load average is printed.

`--instructions` counts instead, for kinds 1-3, the client's instructions per model turn under
valgrind's cachegrind (installed): a figure the load does not move, 10 runs of 21 turns (and
100 of 1: the same split) less 0 after the same warm-up. It leaves out the kernel's part (the
system calls) and cache misses, which the CPU figures include.

**Within a run** (`within_runs`): each process also runs 60 groups of three 21-turn runs (no
store; no store again, the control; a non-idempotent store; in rotating order), a
`before_model` hook noting `process_time` at each request, and takes per stretch (start to
request 1, request k to k+1, request 21 to the end) the median over the runs. It splits a
durable run's extra as the run pays it: its start and end cold, after 20 turns of the loop (in
the 1-turn against 21-turn split above they run warm, and read ~2.5x cheaper), and a later
turn's part, the checkpoints alone. A median per stretch ignores the odd slow stretch (another
tenant, a slow disk write) that a best of blocks keeps or drops whole; the control, interleaved
with the others, shows what is left of the noise.

Then a resume: a run stopped (by a hook) just before its 51st model call is resumed, timed from
`agent.run(run_id=...)` to the moment the next request is about to be sent (wall and CPU),
best of several, in one more child process (seed 0).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import json
import os
import platform
import re
import shutil
import statistics
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
TURNS = ROUNDS + 1
NO_STORE, IDEMPOTENT, NON_IDEMPOTENT = "no store", "store, idempotent", "store, non-idempotent"
FULL_THREAD = "FULL, non-idempotent, synced in threads"
FULL_INLINE = "FULL, non-idempotent, fsync on the loop"
CONTROL = "no store again (control: same code)"
SPLIT = (NO_STORE, IDEMPOTENT, NON_IDEMPOTENT)
"""The kinds also measured at one turn (the per-run / per-turn split)."""
KINDS = (*SPLIT, FULL_THREAD, FULL_INLINE, CONTROL)
SSE_NO_STORE, SSE_STORE = "no store, SSE", "store, non-idempotent, SSE"
CASES = [(kind, rounds) for kind in SPLIT for rounds in (0, ROUNDS)] + [
    (FULL_THREAD, ROUNDS), (FULL_INLINE, ROUNDS), (SSE_NO_STORE, ROUNDS), (SSE_STORE, ROUNDS),
    (CONTROL, ROUNDS),
]
SHORT_RUNS = 10
"""How many more 1-turn runs than 21-turn runs a timed block holds (similar block lengths)."""
PROBE_FILES = 200
Sample = dict[tuple[str, int], float]
"""One process's figures: CPU seconds per run of each case (kind, rounds)."""
COUNTED = 10
"""Runs per kind whose instructions `--instructions` counts."""
WITHIN = 60
"""Groups of runs per process for where the extra falls within a run (`within_runs`)."""
Within = dict[str, float]


class Stop(BaseException):
    """Ends a run where a crash would (not an `Exception`, so nothing catches it)."""


def _agent(
    client: AsyncClient, idempotent: bool, hooks: Hooks | None = None, *, stream: bool = False
) -> Agent[str]:
    tools = [t.replace(idempotent=idempotent) for t in (add, multiply)]
    return Agent(MODEL, tools=tools, client=client, limits=Limits(max_turns=1000),
                 hooks=hooks or Hooks(), stream=stream)


def _inline_post_init(self: durable.Journal) -> None:
    """A journal that hands its store no `then`: each commit is fsynced before it returns."""
    _shipped_post_init(self)
    self.durability = None


_shipped_post_init = durable.Journal.__post_init__


# -- one process: CPU per run of each case ------------------------------------------------------


async def cpu_per_run(
    url: str, folder: Path, runs: int, reps: int, count: tuple[str, int] | None = None
) -> Sample:
    """CPU seconds per run of each case (kind, rounds), the best of `reps` blocks of `runs` runs
    (`runs * SHORT_RUNS` at 0 rounds), the cases taking turns. With `count` (under cachegrind),
    only `runs` runs of that case after the warm-up, and nothing timed."""
    client = AsyncClient(api_key="offline", base_url=url)
    normal = SQLiteStore(folder / "turns.db")
    full = SQLiteStore(folder / "full.db", synchronous="FULL")
    plain, idem, nonidem = _agent(client, False), _agent(client, True), _agent(client, False)
    control = _agent(client, False)
    streamed = {SSE_NO_STORE: _agent(client, False, stream=True),
                SSE_STORE: _agent(client, False, stream=True)}
    ids = itertools.count()

    async def run(kind: str, rounds: int) -> None:
        prompt = f"rounds {rounds}"
        if kind in (NO_STORE, CONTROL):
            await (plain if kind == NO_STORE else control).run(prompt)
            return
        if kind == SSE_NO_STORE:
            await streamed[kind].run(prompt)
            return
        agent = idem if kind == IDEMPOTENT else streamed.get(kind, nonidem)
        store = full if "FULL" in kind else normal
        inline = kind == FULL_INLINE
        durable.Journal.__post_init__ = _inline_post_init if inline else _shipped_post_init
        await agent.run(prompt, run_id=f"r{next(ids)}", store=store)

    best = dict.fromkeys(CASES, float("inf"))
    for case in CASES:
        await run(*case)  # warm up
    if count is not None:
        for _ in range(runs):
            await run(*count)
        reps = 0
    for rep in range(reps):
        shift = rep % len(CASES)  # each case in each position, not always after the same one
        for case in CASES[shift:] + CASES[:shift]:
            n = runs * (SHORT_RUNS if case[1] == 0 else 1)
            gc.collect()
            start = time.process_time()
            for _ in range(n):
                await run(*case)
            best[case] = min(best[case], (time.process_time() - start) / n)
    durable.Journal.__post_init__ = _shipped_post_init
    await client.aclose()
    normal.close()
    full.close()
    return best


async def within_runs(url: str, folder: Path, groups: int) -> dict[str, float]:
    """Where a store's extra CPU falls within a run (the module's docstring says how and
    why): per stretch the median over `groups` runs of each kind. Returned (us): the store's
    extra for the start, the first turn, a later turn (the mean over requests 2-21's
    stretches), the end, and a plain later turn; (%) the store's extra over a whole plain run,
    and the control's over a later turn and over a whole run (the protocol's own error)."""
    client = AsyncClient(api_key="offline", base_url=url)
    store = SQLiteStore(folder / "within.db")
    marks: list[float] = []

    def mark(ctx: Any, params: Any) -> None:
        marks.append(time.process_time())

    kinds = ("plain", "control", "stored")
    agents = {kind: _agent(client, False, Hooks(before_model=mark)) for kind in kinds}
    ids = itertools.count()
    stretches: dict[str, list[list[float]]] = {kind: [] for kind in kinds}
    for group in range(groups + 3):  # the first three groups warm up
        for kind in kinds[group % 3:] + kinds[:group % 3]:
            marks.clear()
            start = time.process_time()
            if kind == "stored":
                await agents[kind].run(f"rounds {ROUNDS}", run_id=f"w{next(ids)}", store=store)
            else:
                await agents[kind].run(f"rounds {ROUNDS}")
            points = [start, *marks, time.process_time()]
            if group >= 3:
                stretches[kind].append([b - a for a, b in itertools.pairwise(points)])
    await client.aclose()
    store.close()
    medians = {k: [statistics.median(col) * 1e6 for col in zip(*v, strict=True)]
               for k, v in stretches.items()}
    plain = medians["plain"]
    extra = {k: [d - p for d, p in zip(medians[k], plain, strict=True)] for k in kinds[1:]}
    later = statistics.mean(plain[2:TURNS])
    return {"start": extra["stored"][0], "first turn": extra["stored"][1],
            "turn": statistics.mean(extra["stored"][2:TURNS]), "end": extra["stored"][TURNS],
            "plain turn": later, "whole": sum(extra["stored"]) / sum(plain) * 100,
            "control turn": statistics.mean(extra["control"][2:TURNS]) / later * 100,
            "control whole": sum(extra["control"]) / sum(plain) * 100}


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


def child(argv: list[str]) -> None:
    """A child's job (`--child MODE URL FOLDER RUNS REPS`): one JSON line on stdout."""
    mode, url, where, runs, reps = argv
    folder = Path(where)
    folder.mkdir()
    if mode == "cpu":
        best = asyncio.run(cpu_per_run(url, folder, int(runs), int(reps)))
        within = asyncio.run(within_runs(url, folder, WITHIN))
        print(json.dumps([[[kind, rounds, s] for (kind, rounds), s in best.items()], within]))
    elif mode == "resume":
        print(json.dumps(asyncio.run(resume_time(url, folder, int(reps)))))
    else:  # under cachegrind: `runs` runs of kind `mode`, of `reps` rounds
        asyncio.run(cpu_per_run(url, folder, int(runs), 0, (mode, int(reps))))


def spawn(mode: str, url: str, folder: Path, runs: int, reps: int, seed: int) -> Any:
    command = [sys.executable, __file__, "--child", mode, url, str(folder), str(runs), str(reps)]
    done = subprocess.run(command, capture_output=True, check=False, text=True,
                          env={**os.environ, "PYTHONHASHSEED": str(seed)})
    if done.returncode != 0:
        sys.exit(f"child {mode} (seed {seed}) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.splitlines()[-1])


# -- the folder ---------------------------------------------------------------------------------


def filesystem(folder: Path) -> tuple[str, str]:
    """(type, mount point) of the filesystem holding `folder`, from `/proc/mounts` (Linux)."""
    path = os.path.realpath(folder)
    found, length = ("unknown", "?"), -1
    with contextlib.suppress(OSError):
        for line in Path("/proc/mounts").read_text().splitlines():
            fields = line.split()
            if len(fields) < 3:
                continue
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[1])
            inside = path == point or path.startswith(point.rstrip("/") + "/")
            if inside and len(point) >= length:  # the last mount on a point is the one seen
                found, length = (fields[2], point), len(point)
    return found


def creation_cost(folder: Path) -> float:
    """Mean CPU (us) of creating one empty file (`O_CREAT | O_EXCL`, as a journal is) in a fresh
    subfolder of `folder`, over `PROBE_FILES` files; they stay until the end (deleting them now
    would slow the next creations on ext4)."""
    probe = Path(tempfile.mkdtemp(prefix="probe-", dir=folder))
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    total = 0
    for i in range(PROBE_FILES):
        path = os.path.join(probe, f"{i}.log")
        start = time.process_time_ns()
        fd = os.open(path, flags, 0o600)
        total += time.process_time_ns() - start
        os.close(fd)
    return total / PROBE_FILES / 1000


# -- the figures --------------------------------------------------------------------------------


def spread(values: list[float], form: str) -> str:
    """`median (min-max)` of `values`, each in `form`."""
    return (f"{format(statistics.median(values), form)} "
            f"({format(min(values), form)} to {format(max(values), form)})")


def report(samples: list[Sample], seeds: range, created: list[float]) -> None:
    """Per kind the median ms/turn and per-process ratio; then the per-run / per-turn split.
    `created`: the file-creation probe before each process."""
    print(f"\n  CPU per model turn, {ROUNDS} rounds x 2 parallel calls, JSON: the median over "
          f"{len(samples)} processes (PYTHONHASHSEED {seeds.start}-{seeds.stop - 1}); over no "
          f"store: the median (min to max) of each process's ratio")
    for kind in KINDS:
        ms = statistics.median(s[kind, ROUNDS] * 1000 / TURNS for s in samples)
        extra = "" if kind == NO_STORE else "  " + spread(
            [(s[kind, ROUNDS] / s[NO_STORE, ROUNDS] - 1) * 100 for s in samples], "+.1f") + " %"
        print(f"    {kind:<40} {ms:6.3f} ms{extra}")
    ms = statistics.median(s[SSE_NO_STORE, ROUNDS] * 1000 / TURNS for s in samples)
    sse = [(s[SSE_STORE, ROUNDS] / s[SSE_NO_STORE, ROUNDS] - 1) * 100 for s in samples]
    print(f"  streamed (SSE, figure 1's other column): {SSE_NO_STORE} {ms:.3f} ms a turn; "
          f"{SSE_STORE} {spread(sse, '+.1f')} %")
    print("\n  each process: a file's creation just before it (us), ms/turn without a store, "
          "then each kind's % over it (in the order above)")
    for seed, s, us in zip(seeds, samples, created, strict=False):
        base = s[NO_STORE, ROUNDS]
        cells = "  ".join(f"{(s[k, ROUNDS] / base - 1) * 100:+6.1f}" for k in KINDS[1:])
        sse = (s[SSE_STORE, ROUNDS] / s[SSE_NO_STORE, ROUNDS] - 1) * 100
        print(f"    seed {seed}: {us:6.1f} us  {base * 1000 / TURNS:6.3f} ms  {cells}  "
              f"SSE {sse:+6.1f}")

    def slope(s: Sample, kind: str) -> float:
        return (s[kind, ROUNDS] - s[kind, 0]) / ROUNDS

    print(f"\n  where the extra goes (us, median (min to max) over processes): a 1-turn run "
          f"against a {TURNS}-turn one")
    print(f"    {NO_STORE:<40} a 1-turn run "
          + spread([s[NO_STORE, 0] * 1e6 for s in samples], ".0f")
          + "; each further turn " + spread([slope(s, NO_STORE) * 1e6 for s in samples], ".0f"))
    for kind in SPLIT[1:]:
        fixed = [(s[kind, 0] - s[NO_STORE, 0]) * 1e6 for s in samples]
        turn = [(slope(s, kind) - slope(s, NO_STORE)) * 1e6 for s in samples]
        share = [(slope(s, kind) / slope(s, NO_STORE) - 1) * 100 for s in samples]
        print(f"    {kind:<40} per run {spread(fixed, '+.0f')}; per turn {spread(turn, '+.1f')}"
              f" = {spread(share, '+.1f')} % of a turn (long runs)")


def report_within(withins: list[Within]) -> None:
    """The within-run split (`within_runs`): medians (min to max) over processes."""
    def cell(key: str, form: str = "+.0f") -> str:
        return spread([w[key] for w in withins], form)

    share = [w["turn"] / w["plain turn"] * 100 for w in withins]
    whole = [w["whole"] for w in withins]
    print(f"\n  within {TURNS}-turn runs ({WITHIN} groups a process, a non-idempotent store "
          f"against none; medians per stretch between requests, us):")
    print(f"    a later turn (requests 2-{TURNS}): {cell('turn', '+.1f')} us over a plain "
          f"{cell('plain turn', '.0f')} us = {spread(share, '+.1f')} % a turn")
    print(f"    the run's start (to its first request) {cell('start')} us; its first turn "
          f"{cell('first turn')} us; its end {cell('end')} us")
    print(f"    together, over a plain {TURNS}-turn run: {spread(whole, '+.1f')} %")
    print(f"    the control (no store again): a later turn {cell('control turn', '+.1f')} %, a "
          f"whole run {cell('control whole', '+.1f')} %")


def instructions(folder: Path | None) -> Sample:
    """Instructions per run of each case of kinds 1-3, at 0 and `ROUNDS` rounds: `COUNTED`
    runs (`COUNTED * SHORT_RUNS` of 1 turn) under cachegrind, less a count of the same process
    making none."""
    refs = re.compile(r"I\s+refs:\s+([\d,]+)")
    per_run: Sample = {}
    server = Server(latency=0.0)
    try:
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            for kind, rounds in [(kind, rounds) for kind in SPLIT for rounds in (0, ROUNDS)]:
                counts: list[int] = []
                n = COUNTED * (SHORT_RUNS if rounds == 0 else 1)
                for runs in (0, n):
                    where = Path(tmp) / f"{len(per_run)}-{runs}"
                    command = ["valgrind", "--tool=cachegrind", "--cache-sim=no",
                               "--cachegrind-out-file=/dev/null", sys.executable, __file__,
                               "--child", kind, server.url, str(where), str(runs), str(rounds)]
                    done = subprocess.run(command, capture_output=True, check=True, text=True,
                                          env={**os.environ, "PYTHONHASHSEED": "0"})
                    found = refs.search(done.stderr)
                    assert found is not None, done.stderr[-2000:]
                    counts.append(int(found.group(1).replace(",", "")))
                per_run[kind, rounds] = (counts[1] - counts[0]) / n
    finally:
        server.close()
    return per_run


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "durable.py").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer processes and repetitions")
    parser.add_argument("--processes", type=int, help="child processes (default 5, quick 3)")
    parser.add_argument("--reps", type=int, help="repetitions per process (default 15, quick 9)")
    parser.add_argument("--dir", type=Path, help="where the store files go (default: a temp dir)")
    parser.add_argument("--instructions", action="store_true",
                        help="count instructions per turn under cachegrind instead")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child)
        return
    if args.instructions:
        counted = instructions(args.dir)
        turn = (counted[NO_STORE, ROUNDS] - counted[NO_STORE, 0]) / ROUNDS
        print(f"\n  instructions, client process, user space ({COUNTED} runs of {TURNS} turns and "
              f"{COUNTED * SHORT_RUNS} of 1 under cachegrind); a plain turn {turn / 1000:.1f} k")
        for kind in SPLIT:
            whole = counted[kind, ROUNDS] - counted[NO_STORE, ROUNDS]  # 0 for no store
            one = counted[kind, 0] - counted[NO_STORE, 0]
            each = (whole - one) / ROUNDS  # the extra of a further turn; the rest, per run
            print(f"    {kind:<24} {counted[kind, ROUNDS] / TURNS / 1000:8.1f} k a turn of a "
                  f"{TURNS}-turn run, +{whole / counted[NO_STORE, ROUNDS] * 100:.1f}%; per turn "
                  f"+{each / 1000:.1f} k (+{each / turn * 100:.1f}%), per run "
                  f"+{(one - each) / 1000:.1f} k")
        return
    processes = args.processes or (3 if args.quick else 5)
    reps = args.reps or (9 if args.quick else 15)
    runs = 2 if args.quick else 4
    seeds = range(processes)
    began, load = time.perf_counter(), os.getloadavg()[0]
    folder = Path(tempfile.mkdtemp(prefix="durable-", dir=args.dir))
    kind, mount = filesystem(folder)
    server = Server(latency=0.0)
    try:
        created: list[float] = []
        samples: list[Sample] = []
        withins: list[Within] = []
        for seed in seeds:
            created.append(creation_cost(folder))
            best, within = spawn("cpu", server.url, folder / f"seed-{seed}", runs, reps, seed)
            samples.append({(kind, rounds): s for kind, rounds, s in best})
            withins.append(within)
        wall, resume_cpu, entries = spawn("resume", server.url, folder / "resume", 0, reps, 0)
        created.append(creation_cost(folder))
    finally:
        server.close()
        shutil.rmtree(folder, ignore_errors=True)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}; load average {load:.2f} before, "
          f"{os.getloadavg()[0]:.2f} after; {time.perf_counter() - began:.0f} s")
    print(f"store folder: {folder} ({kind}, mounted on {mount}); SQLiteStore "
          f"synchronous=NORMAL unless FULL; {runs} runs of {TURNS} turns or {runs * SHORT_RUNS} "
          f"of 1 turn a block, best of {reps} blocks per process")
    print(f"creating an empty file there (mean CPU of {PROBE_FILES} O_CREAT|O_EXCL opens in a "
          f"fresh subfolder): {created[0]:.1f} us at the start, {created[-1]:.1f} us at the end")
    report(samples, seeds, created)
    report_within(withins)
    print(f"\n  resume of a 50-turn run ({entries} journal entries) to its next model call: "
          f"{wall:.1f} ms wall, {resume_cpu:.1f} ms CPU (target < 50 ms)")


if __name__ == "__main__":
    main()
