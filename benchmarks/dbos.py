"""What a DBOS checkpoint costs per step: a `DBOSAgent` run against the same agent without
durability, on a DBOS system database in SQLite and in Postgres 15.

    .venv/bin/python benchmarks/dbos.py [--quick]

The shape is `durable.py`'s (and `bench.py` figure 1's): the same `FakeServer` in a child
process, no latency, 20 rounds of 2 parallel tool calls then a final text (21 model calls),
JSON. Each DBOS run is a workflow whose steps are its model calls, its tool calls and, with
non-idempotent tools (the default), one started mark per batch of calls: 81 steps for 21
turns (61 with idempotent tools), counted from `DBOS.list_workflow_steps`, not assumed.
Postgres is started by the script, as the tests start it (`tests/support/postgres.py`: a
fresh cluster in a temporary directory on 127.0.0.1, default settings, so every commit is
fsynced); SQLite is a file in a temporary directory (DBOS's settings: rollback journal,
`synchronous=FULL`).

Figures, best of several repetitions taking turns: wall time and this process's CPU per run,
then per step the difference with the plain run divided by the steps (what a checkpoint adds:
its write, DBOS's bookkeeping, the thread hop DBOS makes for each database call). CPU is this
process's only: the Postgres server's own work shows in the wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# This script's folder comes first on the path, and this file is named like the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
from dbos import DBOS  # noqa: E402

sys.path[:0] = [str(HERE), str(ROOT), str(ROOT / "tests" / "support")]
from _loops import MODEL, Server, add, multiply  # noqa: E402
from postgres import PostgresUnavailable, postgres_server  # noqa: E402

from agentkit import Agent, AsyncClient, Limits  # noqa: E402
from agentkit.dbos import DBOSAgent  # noqa: E402

ROUNDS = 20
PROMPT = f"rounds {ROUNDS}"
KINDS = ("no durability", "DBOS, idempotent tools", "DBOS, non-idempotent tools")


def _agent(client: AsyncClient, idempotent: bool) -> Agent[str]:
    tools = [t.replace(idempotent=idempotent) for t in (add, multiply)]
    return Agent(MODEL, tools=tools, client=client, limits=Limits(max_turns=1000))


async def measure(url: str, system_db: str, runs: int, reps: int) -> dict[str, tuple[float, ...]]:
    """Per kind: (wall s per run, CPU s per run, steps per run)."""
    client = AsyncClient(api_key="offline", base_url=url)
    plain = _agent(client, False)
    name = system_db.split(":", 1)[0]
    durable = {
        KINDS[1]: DBOSAgent(_agent(client, True), name=f"bench-idem-{name}"),
        KINDS[2]: DBOSAgent(_agent(client, False), name=f"bench-nonidem-{name}"),
    }
    DBOS(config={"name": "agentkit-bench", "system_database_url": system_db,
                 "log_level": "WARNING"})
    DBOS.launch()
    ids = itertools.count()
    steps: dict[str, int] = {KINDS[0]: 0}

    async def run(kind: str) -> None:
        if kind == KINDS[0]:
            await plain.run(PROMPT)
            return
        wid = f"{kind}-{next(ids)}"
        await durable[kind].run(PROMPT, workflow_id=wid)
        if kind not in steps:
            steps[kind] = len(await DBOS.list_workflow_steps_async(wid))

    best = {kind: (float("inf"), float("inf")) for kind in KINDS}
    try:
        for kind in KINDS:
            await run(kind)  # warm up (and count the steps)
        for _ in range(reps):
            for kind in KINDS:
                gc.collect()
                wall, cpu = time.perf_counter(), time.process_time()
                for _ in range(runs):
                    await run(kind)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                best[kind] = (min(best[kind][0], wall / runs), min(best[kind][1], cpu / runs))
    finally:
        DBOS.destroy(destroy_registry=False)
        await client.aclose()
    return {kind: (*best[kind], float(steps[kind])) for kind in KINDS}


@contextlib.contextmanager
def databases(folder: Path) -> Iterator[list[tuple[str, str]]]:
    """(label, system database URL): SQLite, and Postgres when it can start here."""
    found = [("SQLite", f"sqlite:///{folder / 'dbos.sqlite'}")]
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(postgres_server())
        except PostgresUnavailable as exc:
            print(f"Postgres skipped: {exc}")
        else:
            found.append(("Postgres 15", server.url("agentkit_bench")))
        yield found


def report(label: str, figures: dict[str, tuple[float, ...]]) -> None:
    base_wall, base_cpu, _ = figures[KINDS[0]]
    print(f"\n  {label}: {ROUNDS + 1} model turns per run")
    print(f"    {'':<28} {'wall/run':>9} {'CPU/run':>9} {'steps':>6} "
          f"{'wall/step':>10} {'CPU/step':>10}")
    for kind, (wall, cpu, steps) in figures.items():
        line = f"    {kind:<28} {wall * 1e3:7.1f}ms {cpu * 1e3:7.1f}ms"
        if steps:
            per_wall = (wall - base_wall) / steps * 1e3
            per_cpu = (cpu - base_cpu) / steps * 1e3
            line += f" {int(steps):6d} {per_wall:8.2f}ms {per_cpu:8.2f}ms"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    runs, reps = (2, 3) if args.quick else (3, 5)
    server = Server(latency=0.0)
    results: list[tuple[str, dict[str, tuple[float, ...]]]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp, databases(Path(tmp)) as found:
            for label, url in found:
                results.append((label, asyncio.run(measure(server.url, url, runs, reps))))
    finally:
        server.close()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}; best of {reps} x {runs} runs")
    for label, figures in results:
        report(label, figures)


if __name__ == "__main__":
    main()
