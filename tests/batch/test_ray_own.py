"""`RayEngine()` with no Ray running and no address: it starts a local Ray for the batch on
127.0.0.1 and shuts it down after."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import ray
from batch_items import double

from agentkit.workflows import RayEngine, run_batch

SUPPORT = Path(__file__).resolve().parents[1] / "support"

# Starting Ray (a head, its workers) takes seconds on an idle machine but minutes on a loaded
# one (a full suite run beside two others timed one out at 120 s): the suite's 120 s a test is for
# hangs, and these get more before one is called a hang.
pytestmark = pytest.mark.timeout(600)


@pytest.mark.asyncio
async def test_a_local_ray_is_started_for_the_batch_and_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not ray.is_initialized()
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    path = os.pathsep.join(filter(None, [str(SUPPORT), os.environ.get("PYTHONPATH")]))
    engine = RayEngine(workers=1, num_cpus=0.5,
                       runtime_env={"env_vars": {"PYTHONPATH": path}})
    out = tmp_path / "out.jsonl"
    report = await run_batch(double, [(i, {"n": i}) for i in range(4)], out=out, engine=engine)
    assert report.done == 4 and not ray.is_initialized()
    pids = {json.loads(line)["output"]["pid"] for line in out.read_text().splitlines()}
    assert pids and os.getpid() not in pids
