"""A durable batch on Ray with Postgres: a worker actor is SIGKILLed while an item's tools are
done and its last model call is in flight; Ray restarts the actor, the item runs again on a
live worker, which resumes its runs from their checkpoints (forked onto its own DBOS
version): every input recorded ok once, no tool call repeated."""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

pytest.importorskip("ray", reason="the ray extra is not installed: pip install 'agentkit[ray]'")

import ray
from durable_orders import RECIPE
from postgres import PostgresServer

from agentkit.workflows import RayEngine, RecipeRunner, run_batch

SUPPORT = Path(__file__).resolve().parents[1] / "support"
ORDERS = [str(i) for i in range(1, 7)]


@pytest.fixture
def ray_env(tmp_path: Path) -> Iterator[Path]:
    """A local Ray on loopback whose workers log to `tmp_path` and hold order 3 once."""
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    (tmp_path / "markers").mkdir()
    env = {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(SUPPORT), os.environ.get("PYTHONPATH")])),
        "DURABLE_LOG": str(tmp_path / "effects.log"),
        "DURABLE_MARKERS": str(tmp_path / "markers"),
        "DURABLE_HOLD": "3",
    }
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": env})
    try:
        yield tmp_path
    finally:
        ray.shutdown()


@pytest.mark.asyncio
async def test_a_killed_ray_worker_loses_no_finished_tool_call(
    ray_env: Path, postgres: PostgresServer
) -> None:
    tmp, marker = ray_env, ray_env / "markers" / "3"
    out = tmp / "out.jsonl"
    items = [(f"o{n}", {"order": n}) for n in ORDERS]
    killed: list[int] = []

    async def kill_when_held() -> None:
        deadline = time.monotonic() + 120
        while not marker.exists() or not marker.read_text():
            if time.monotonic() > deadline:
                pytest.fail("order 3 never reached its last model call")
            await anyio.sleep(0.02)
        pid = int(marker.read_text())
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    async with anyio.create_task_group() as tg:
        tg.start_soon(kill_when_held)
        report = await run_batch(
            RecipeRunner(RECIPE), items, out=out, concurrency=4,
            engine=RayEngine(workers=2), durable=postgres.url("durable_ray"),
            batch_id="ray",
        )
    assert killed
    found = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["id"] for r in found) == [f"o{n}" for n in ORDERS]
    assert all(r["ok"] for r in found) and report.done == len(ORDERS)
    third = next(r for r in found if r["id"] == "o3")
    assert third["worker"] != f"{os.uname().nodename}:{killed[0]}"
    log = Counter(" ".join(line.split()[:3]) if line.startswith("tool") else line
                  for line in (tmp / "effects.log").read_text().splitlines())
    for name in ("reserve", "charge", "ship"):  # order 3's were all done before the kill
        assert log[f"tool {name} 3"] == 1, (name, log)
    # The killed worker ran one other item beside order 3 (4 at once on 2 workers), which may
    # have been mid-tool: an idempotent call then ran again with the same key, and one
    # non-idempotent call at most never logged (it was answered as interrupted, not run again).
    lines = (tmp / "effects.log").read_text().splitlines()
    missing = 0
    for order in ORDERS:
        keys = {line for line in lines if line.startswith(f"tool reserve {order} ")}
        assert len(keys) == 1, (order, keys)
        for name in ("charge", "ship"):
            assert log[f"tool {name} {order}"] <= 1, (name, order, log)
            missing += 1 - log[f"tool {name} {order}"]
    assert missing <= 1, log
    assert log["model 3 Process 0"] == log["model 3 Process 1"] == 1
    assert log["model 3 Process 2"] == 2  # the call in flight at the kill, sent again
