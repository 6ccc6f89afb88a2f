"""Fault suite, load: 100 concurrent runs with 5% of requests faulted; nothing lost.

The same code as `benchmarks/load.py` (the 1,000-run version), run small: every run ends
with the correct result or a typed `RunError`, none hangs, none is lost, every history is
valid and belongs to its run. Retry sleeps are skipped; the slow fault really waits for the
client's 0.2 s read timeout.
"""

from __future__ import annotations

import importlib.util
import random
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import anyio
import pytest

from agentkit import Agent, AsyncClient, RunError, RunState, tool, validate_conversation
from agentkit.testing import FakeClock, FakeServer, FunctionModel

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "load.py"


def load_benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("agentkit_load_benchmark", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their annotations through it
    spec.loader.exec_module(module)
    return module


load = load_benchmark()


@pytest.mark.parametrize(("runs", "fault_rate"), [(100, 0.05), (40, 0.4)], ids=["5%", "40%"])
@pytest.mark.asyncio
async def test_concurrent_runs_under_faults_all_end_typed_and_valid(
    runs: int, fault_rate: float
) -> None:
    with anyio.fail_after(60):
        report = await load.run_load(
            runs=runs, fault_rate=fault_rate, rounds=3, read_timeout=0.2, bound=20, sleep=False
        )
    assert report.ok, report.summary()
    assert report.ended == runs and report.hung == 0 and report.lost == 0
    assert report.results + sum(report.typed_errors.values()) == runs
    assert sum(report.injected.values()) > 0
    assert report.requests >= runs * 4  # 3 tool rounds and a final answer each, at least
    assert report.results > 0


def test_the_report_counts_what_went_wrong() -> None:
    report = load.LoadReport(runs=5, results=2, hung=1)
    report.wrong.append("run 3: 'done run-4 9'")
    assert report.lost == 1 and not report.ok
    assert "hung                  1" in report.summary()
    assert "lost                  1" in report.summary()
    assert load.expected_checksum(3) == 3 + 5 + 7


def test_the_benchmark_prints_a_summary_and_exits_zero() -> None:
    lines: list[str] = []
    status = load.main(
        ["--runs", "20", "--no-sleep", "--read-timeout", "0.2", "--rounds", "1"],
        out=lines.append,
    )
    assert status == 0, lines
    assert "verdict               OK" in lines[0]


@pytest.mark.asyncio
async def test_a_run_error_caused_by_a_bug_is_not_counted_as_typed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(load.Agent, "run", _raising_run)
    report = await load.run_load(runs=3, fault_rate=0.0, rounds=1, sleep=False)
    assert len(report.untyped) == 3 and not report.typed_errors and not report.ok


async def _raising_run(self: object, prompt: str) -> None:
    raise load.RunError("failed", messages=[{"role": "user", "content": prompt}]) from NameError(
        "a bug"
    )


@pytest.mark.asyncio
async def test_runs_cancelled_at_any_moment_under_load_leave_valid_states() -> None:
    rng = random.Random(7)

    @tool
    async def add(a: int, b: int) -> int:
        """Add two integers, slowly enough to be cancelled mid-call."""
        await anyio.sleep(rng.uniform(0, 0.01))
        return a + b

    model = load.LoadModel(rounds=3, fault_rate=0.05, faults=load.fault_kinds(0.4), seed=7)
    outcomes: Counter[str] = Counter()
    states: list[RunState] = []
    with FakeServer(FunctionModel(model), record=False) as server:
        async with AsyncClient(base_url=server.base_url, read_timeout=0.2) as client:
            agent = Agent(
                "claude-sonnet-4-5", tools=[add], client=client, stream=True, clock=FakeClock()
            )

            async def one(i: int) -> None:
                state = RunState(messages=[{"role": "user", "content": f"run-{i}"}])
                states.append(state)
                with anyio.move_on_after(rng.uniform(0, 0.6)) as scope:
                    try:
                        await agent.run(state=state)
                    except RunError:
                        outcomes["failed"] += 1
                        return
                outcomes["cancelled" if scope.cancelled_caught else "finished"] += 1

            with anyio.fail_after(30):
                async with anyio.create_task_group() as tg:
                    for i in range(100):
                        tg.start_soon(one, i)
        server.script.errors.clear()
    assert sum(outcomes.values()) == 100 and outcomes["cancelled"] > 0
    for state in states:
        validate_conversation(state.messages)
        assert state.stop_reason in ("end_turn", "cancelled") or not state.done, state.stop_reason
        if state.stop_reason == "cancelled":
            assert state.done and state.pending == [] and state.results == {}

