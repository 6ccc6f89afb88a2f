"""Batches: offline items per second locally and on a 2-node loopback Ray cluster, Ray's
overhead per item, a node killed mid-batch, and the rate limiter's pace.

Why: issue 10 asks for items/s of 2,000 offline items, local engine against Ray on a 2-node
loopback cluster (cluster start excluded), Ray's overhead per item, the cost of the old
offline path (a fake server and a client per item) against one shared per worker, and a
node that dies mid-batch losing nothing. It is a script, not a test:

    .venv/bin/python benchmarks/batch.py [--items 2000] [--skip-ray]

Sections (each prints its figures):
1. offline per-item fake server and client (the old path) against one shared per worker,
   300 items of the `routing` recipe (2 model calls each), concurrency 16;
2. `--items` offline `routing` items, local engine, concurrency 64;
3. a 2-node `ray.cluster_utils.Cluster` on 127.0.0.1 (head: 2 CPUs, node: 1 CPU; start
   timed apart): the same items on 2 worker actors;
4. overhead per item: a no-op async function, local and on Ray (the slope between n/4
   and n items, so the workers' start is not counted per item);
5. the node holding a worker removed after 1/4 of a batch: every input recorded ok once?
6. the rate limiter: 300 single-request agent runs against a fake enforcing 1,200 requests
   per minute (a burst of 1 s), locally and on the 2 Ray workers (each with half):
   achieved pace, 429s, time held back;
7. a durable batch's cost per item (`durable=`, DBOS): 300 `routing` items, concurrency 16,
   plain against durable on SQLite and on a throwaway Postgres (`tests/support/postgres.py`;
   skipped where it cannot start), and a rerun under the same batch id that replays every run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import anyio

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # Ray listens on loopback
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

from agentkit import Agent, AsyncClient, RateLimiter
from agentkit.testing import FakeServer, RateLimit, echo_model
from agentkit.workflows import (
    FunctionRunner,
    RayEngine,
    RecipeRunner,
    recipes,
    run_batch,
    run_recipe,
)

RECIPE = "routing"


def _items(n: int) -> list[tuple[int, dict[str, Any]]]:
    return [(i, {}) for i in range(n)]


async def _old_path(inputs: Any) -> Any:
    """What offline batch items did before: `run_recipe` with no client, which starts a
    `FakeServer` and an `AsyncClient` for the item alone."""
    return await run_recipe(recipes()[RECIPE], inputs, online=False)


async def _noop(value: Any) -> Any:
    return value


async def _ask(value: Any, client: AsyncClient) -> Any:
    return await Agent("claude-sonnet-4-5", client=client).run(f"item {value}")


def _check(out: Path, n: int) -> str:
    ids = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    ok = [json.loads(line)["ok"] for line in out.read_text().splitlines()]
    once = len(ids) == len(set(ids)) == n
    return f"{len(ids)} records, {len(set(ids))} ids, all ok: {all(ok)}, each once: {once}"


def _run(task: Any, items: Any, out: Path, **kwargs: Any) -> tuple[float, Any]:
    out.unlink(missing_ok=True)
    started = time.perf_counter()
    report = anyio.run(lambda: run_batch(task, items, out=out, **kwargs))
    return time.perf_counter() - started, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--skip-ray", action="store_true")
    args = parser.parse_args()
    n = args.items
    tmp = Path(tempfile.mkdtemp(prefix="agentkit-batch-bench-"))
    recipe = recipes()[RECIPE]
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; recipe {RECIPE!r}")

    print("\n1. offline: a fake server and a client per item, against one shared per worker")
    old, _ = _run(FunctionRunner(_old_path), _items(300), tmp / "old.jsonl", concurrency=16)
    new, _ = _run(RecipeRunner(recipe), _items(300), tmp / "new.jsonl", concurrency=16)
    print(f"   300 items: per item {old:.2f} s ({300 / old:.0f} items/s); shared "
          f"{new:.2f} s ({300 / new:.0f} items/s): {old / new:.1f}x faster")

    print(f"\n2. {n} offline items, local engine, concurrency 64")
    local, report = _run(RecipeRunner(recipe), _items(n), tmp / "local.jsonl", concurrency=64)
    print(f"   {local:.2f} s, {n / local:.0f} items/s; {_check(tmp / 'local.jsonl', n)}")
    noop_local, _ = _run(_noop, _items(n), tmp / "noop.jsonl", concurrency=64)
    _durable(recipe, tmp)

    limits = RateLimit(requests_per_minute=1200)
    server = FakeServer(echo_model, rate_limit=limits, record=False).start()
    os.environ["ANTHROPIC_BASE_URL"] = server.base_url
    os.environ["ANTHROPIC_API_KEY"] = "offline"
    print("\n6a. rate limiter, local: 300 runs, budget 1,200 requests/min (20/s)")
    _pace(limits, lambda: _run(FunctionRunner(_ask), _items(300), tmp / "rl.jsonl",
                                concurrency=300, rate_limiter=RateLimiter()))
    if args.skip_ray:
        server.stop()
        return
    import ray
    from ray.cluster_utils import Cluster

    print("\n3. a 2-node loopback Ray cluster")
    started = time.perf_counter()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2})
    node = cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, log_to_driver=False,
             runtime_env={"env_vars": {"ANTHROPIC_BASE_URL": server.base_url,
                                       "ANTHROPIC_API_KEY": "offline"}})
    cluster.wait_for_nodes()
    print(f"   cluster up in {time.perf_counter() - started:.1f} s (not counted below)")
    engine = RayEngine(workers=2)
    anyio.run(lambda: run_batch(_noop, _items(10), out=tmp / "warm.jsonl", engine=engine))
    on_ray, _ = _run(RecipeRunner(recipe), _items(n), tmp / "ray.jsonl", concurrency=64,
                     engine=engine)
    workers = {json.loads(line)["worker"] for line in (tmp / "ray.jsonl").open()}
    print(f"   {n} items on Ray: {on_ray:.2f} s, {n / on_ray:.0f} items/s (local: "
          f"{n / local:.0f}); {len(workers)} workers; {_check(tmp / 'ray.jsonl', n)}")
    print("   (workers start per batch, inside the timing: about 1-3 s of it)")

    print("\n4. overhead per item: a no-op function")
    # The slope between a batch of n and one of n/4 cancels the per-batch cost (starting
    # and stopping the workers), leaving the cost of each item.
    quarter, _ = _run(_noop, _items(n // 4), tmp / "noop-q.jsonl", concurrency=64,
                      engine=engine)
    noop_ray, _ = _run(_noop, _items(n), tmp / "noop-ray.jsonl", concurrency=64,
                       engine=engine)
    per_item = (noop_ray - quarter) * 1000 / (n - n // 4)
    fixed = noop_ray - per_item * n / 1000
    print(f"   local {noop_local * 1000 / n:.2f} ms per item; Ray {per_item:.2f} ms per item "
          f"(slope of {n // 4} and {n} items), plus {fixed:.1f} s per batch (workers start "
          "and stop)")

    print("\n6b. rate limiter on Ray: the same 300 runs on 2 workers, each with half")
    _pace(limits, lambda: _run(FunctionRunner(_ask), _items(300), tmp / "rl-ray.jsonl",
                                concurrency=300, rate_limiter=RateLimiter(), engine=engine))

    print("\n5. the worker node removed after a quarter of the items")
    removed = threading.Event()
    seen = [0]

    def kill(record: dict[str, Any]) -> None:
        seen[0] += 1
        if seen[0] >= n // 4 and not removed.is_set():
            removed.set()  # removing a node blocks: not on the driver's event loop
            threading.Thread(target=cluster.remove_node, args=(node,)).start()

    took, report = _run(RecipeRunner(recipe), _items(n), tmp / "kill.jsonl", concurrency=64,
                        engine=engine, on_record=kill)
    print(f"   node removed: {removed.is_set()}; {took:.2f} s; done {report.done}, failed "
          f"{report.failed}; {_check(tmp / 'kill.jsonl', n)}")
    ray.shutdown()
    cluster.shutdown()
    server.stop()


def _durable(recipe: Any, tmp: Path, count: int = 300) -> None:
    """Section 7: what checkpointing every model call of every item costs per item."""
    here = Path(__file__).resolve().parent  # holds dbos.py, which would shadow the package
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    sys.path.insert(0, str(here.parent / "tests" / "support"))
    from postgres import PostgresUnavailable, postgres_server

    print(f"\n7. durable items: {count} offline items, local engine, concurrency 16")
    plain, _ = _run(RecipeRunner(recipe), _items(count), tmp / "plain.jsonl", concurrency=16)
    print(f"   plain: {plain:.2f} s ({count / plain:.0f} items/s)")

    def durable(name: str, url: str) -> None:
        took, report = _run(RecipeRunner(recipe), _items(count), tmp / f"{name}.jsonl",
                            concurrency=16, durable=url, batch_id=name)
        steps = report.usage.requests
        extra = (took - plain) * 1000
        print(f"   {name}: {took:.2f} s ({count / took:.0f} items/s), {extra / count:+.1f} ms "
              f"per item, {extra / steps:+.1f} ms per checkpointed model call ({steps})")
        again, _ = _run(RecipeRunner(recipe), _items(count), tmp / f"{name}.jsonl",
                        concurrency=16, durable=url, batch_id=name)
        print(f"   {name}, rerun under the same id (every run replayed): {again:.2f} s "
              f"({count / again:.0f} items/s)")

    durable("sqlite", f"sqlite:///{tmp / 'runs.sqlite'}")
    try:
        with postgres_server() as server:
            durable("postgres", server.url("agentkit_bench"))
    except PostgresUnavailable as exc:
        print(f"   postgres: skipped ({exc})")


def _pace(limits: RateLimit, batch: Any) -> None:
    limits.admitted.clear()
    rejected = limits.rejected
    took, report = batch()
    times = limits.admitted
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    pace = (len(times) - 1) / span * 60 if span else 0.0
    print(f"   {report.done} runs ok in {took:.1f} s; admitted pace {pace:.0f}/min (budget "
          f"1200); 429s: {limits.rejected - rejected}; held back {report.held_seconds:.1f} s")


if __name__ == "__main__":
    main()
