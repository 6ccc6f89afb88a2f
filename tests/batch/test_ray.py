"""`run_batch` on a local Ray instance (127.0.0.1, 2 CPUs): items spread over worker
actors, offline recipes with the fake inside each worker, and a worker that dies mid-batch
losing nothing."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray
from batch_items import GREET, die_once, double

from agentkit import UsageError
from agentkit.workflows import RayEngine, RecipeRunner, run_batch

SUPPORT = Path(__file__).resolve().parents[1] / "support"

# Starting Ray (a head, its workers) takes seconds on an idle machine but minutes on a loaded
# one (a full suite run beside two others timed one out at 120 s): the suite's 120 s a test is for
# hangs, and these get more before one is called a hang.
pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """A Ray instance for this module, on loopback, its workers able to import our helpers."""
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    path = os.pathsep.join(filter(None, [str(SUPPORT), os.environ.get("PYTHONPATH")]))
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": path}})
    yield
    ray.shutdown()


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.asyncio
async def test_items_spread_over_worker_processes(local_ray: None, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    items = [(i, {"n": -1 if i == 7 else i}) for i in range(40)]
    report = await run_batch(double, items, out=out, concurrency=8,
                             engine=RayEngine(workers=2))
    assert (report.done, report.failed_ids) == (39, [7])
    found = records(out)
    assert sorted(r["id"] for r in found) == list(range(40))
    workers = {r["worker"] for r in found}
    assert len(workers) == 2 and f"{socket.gethostname()}:{os.getpid()}" not in workers
    assert all(r["output"]["doubled"] == 2 * r["id"] for r in found if r["ok"])


@pytest.mark.asyncio
async def test_offline_recipes_run_with_the_fake_in_the_worker(
    local_ray: None, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    report = await run_batch(GREET, [(f"p{i}", {"name": f"p{i}"}) for i in range(20)],
                             out=out, concurrency=6, engine=RayEngine(workers=2))
    assert report.done == 20 and report.usage.requests == 20
    by_id = {r["id"]: r for r in records(out)}
    assert by_id["p3"]["output"] == "Hello p3, you said 'I am p3'"


@pytest.mark.asyncio
async def test_a_worker_that_dies_mid_batch_loses_nothing(local_ray: None, tmp_path: Path) -> None:
    out, marker = tmp_path / "out.jsonl", tmp_path / "died"
    items = [(i, {"n": i, "die": i == 5, "marker": str(marker)}) for i in range(30)]
    report = await run_batch(die_once, items, out=out, concurrency=8,
                             engine=RayEngine(workers=2))
    assert marker.exists()  # a worker really died, with items in flight
    found = records(out)
    assert sorted(r["id"] for r in found) == list(range(30))  # each recorded once
    assert all(r["ok"] for r in found) and report.done == 30
    dead = f"{socket.gethostname()}:{marker.read_text()}"
    assert next(r for r in found if r["id"] == 5)["worker"] != dead  # it ran again elsewhere


def test_the_command_line_runs_a_recipe_on_ray(
    local_ray: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from agentkit.cli.main import main
    from agentkit.workflows import recipe as registry

    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    installed = registry.recipes
    monkeypatch.setattr(registry, "recipes", lambda: {**installed(), "greet": GREET})
    inputs, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inputs.write_text("".join(f'{{"id": "g{i}", "name": "g{i}"}}\n' for i in range(12)))
    args = ["batch", "greet", str(inputs), "--out", str(out), "--engine", "ray", "--workers", "2"]
    assert main(args) == 0
    assert "12 done, 0 failed, 0 skipped" in capsys.readouterr().out
    found = records(out)
    assert len({r["worker"] for r in found}) == 2 and len(found) == 12


@pytest.mark.asyncio
async def test_a_runner_that_cannot_open_in_the_worker_fails_each_item_with_why(
    local_ray: None, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    report = await run_batch(RecipeRunner("no-such-recipe"), [(i, {}) for i in range(3)],
                             out=out, engine=RayEngine(workers=1))
    assert report.failed == 3 and report.done == 0
    errors = {r["error"] for r in records(out)}
    assert len(errors) == 1 and "no recipe named 'no-such-recipe'" in errors.pop()


@pytest.mark.parametrize("options", [
    {"max_attempts": 0}, {"max_attempts": 1.5}, {"max_attempts": True},
    {"restart_timeout": 0}, {"restart_timeout": "60"}, {"workers": 0}, {"workers": 2.0},
])
def test_a_ray_engine_with_a_bad_option_is_refused_where_it_is_made(
    options: dict[str, Any],
) -> None:
    with pytest.raises(UsageError, match=f"RayEngine {next(iter(options))} must be"):
        RayEngine(**options)
