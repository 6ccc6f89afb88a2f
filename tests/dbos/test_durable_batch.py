"""Durable batches (`agentkit batch --durable`, `run_batch(durable=...)`) on DBOS, on SQLite
and on a real Postgres: the batch process is SIGKILLed while some items' tools are done and
their last model call is in flight, the same command runs again, and

- every input is recorded ok exactly once, with the outputs of a batch that never crashed;
- no tool call of an interrupted item ran again, nor any model call that had finished: only
  the calls in flight at the kill are sent once more;
- an item's runs are found by what they are (parallel runs included), so a batch run again
  under the same id replays every run and calls nothing; a run that failed is retried from
  its failed call on the next run, its finished tools not repeated.

The recipe (`tests/support/durable_orders.py`) logs every tool call and model request to a
file; the kill waits for marker files the held items write, never for a delay.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import pytest
from durable_orders import RECIPE

from agentkit import RunContext, SQLiteStore, UsageError
from agentkit.workflows import RayEngine, RecipeRunner, run_batch
from agentkit.workflows._durable import DurableRunner

RECIPE_FILE = Path(__file__).parents[1] / "support" / "durable_orders.py"
ORDERS = [str(i) for i in range(1, 7)]


def write_inputs(path: Path) -> Path:
    path.write_text("".join(json.dumps({"id": f"o{n}", "order": n}) + "\n" for n in ORDERS))
    return path


def batch(tmp: Path, db: str, env: dict[str, str]) -> subprocess.Popen[str]:
    """`agentkit batch --durable` in its own process, offline, 2 items at a time."""
    args = [sys.executable, "-m", "agentkit", "batch", str(RECIPE_FILE), str(tmp / "in.jsonl"),
            "--out", str(tmp / "out.jsonl"), "--concurrency", "2", "--durable", "--db", db]
    full = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    return subprocess.Popen(args, env={**full, **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def log_lines(log: Path) -> Counter[str]:
    """How often each logged event happened (tool lines without their idempotency key)."""
    lines = log.read_text().splitlines() if log.exists() else []
    return Counter(" ".join(line.split()[:3]) if line.startswith("tool") else line
                   for line in lines)


def reference_outputs(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The outputs of the same batch run plainly, never crashed."""
    monkeypatch.delenv("DURABLE_LOG", raising=False)
    out = tmp / "reference.jsonl"
    anyio.run(lambda: run_batch(RECIPE, write_inputs(tmp / "ref-in.jsonl"), out=out))
    return {r["id"]: r["output"] for r in records(out)}


def test_a_killed_durable_batch_resumes_its_items_from_their_checkpoints(
    system_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_inputs(tmp_path / "in.jsonl")
    log, markers = tmp_path / "effects.log", tmp_path / "markers"
    markers.mkdir()
    env = {"DURABLE_LOG": str(log), "DURABLE_MARKERS": str(markers)}
    # Orders 4 and 5 hold their last model call: when both hold, both slots are held
    # there, after their tools ran; 1 to 3 are recorded, 6 has not started.
    first = batch(tmp_path, system_db, {**env, "DURABLE_HOLD": "4,5"})
    deadline = time.monotonic() + 120
    while len(list(markers.iterdir())) < 2:
        if first.poll() is not None:
            pytest.fail(f"the batch exited before the kill: {first.communicate()}")
        if time.monotonic() > deadline:
            first.kill()
            pytest.fail(f"the held items never arrived: {first.communicate()}")
        time.sleep(0.02)
    first.kill()  # SIGKILL
    first.communicate()
    before = log_lines(log)
    assert {r["id"] for r in records(tmp_path / "out.jsonl")} == {"o1", "o2", "o3"}
    assert before["tool charge 4"] == before["tool ship 5"] == 1  # their tools had run

    second = batch(tmp_path, system_db, env)
    out, err = second.communicate(timeout=180)
    assert second.returncode == 0, out + err
    assert "3 done, 0 failed, 3 skipped" in out
    assert "durable: batch 'out.jsonl-" in out + err

    final = records(tmp_path / "out.jsonl")
    assert sorted(r["id"] for r in final) == [f"o{n}" for n in ORDERS]  # each once
    assert all(r["ok"] for r in final)
    assert {r["id"]: r["output"] for r in final} == reference_outputs(tmp_path, monkeypatch)
    after = log_lines(log)
    for order in ORDERS:  # every tool call ran once, crash or not
        for name in ("reserve", "charge", "ship"):
            assert after[f"tool {name} {order}"] == 1, (name, order, after)
    resent = {line: n for line, n in (after - before).items() if line.startswith("model")}
    # Only the calls in flight at the kill were sent again, plus order 6's, all new.
    assert resent == {"model 4 Process 2": 1, "model 5 Process 2": 1,
                      **{k: v for k, v in after.items() if k.startswith("model 6 ")}}


def orders_run(tmp: Path, db: str, out: str, batch_id: str = "orders") -> list[dict[str, Any]]:
    report = anyio.run(lambda: run_batch(
        RecipeRunner(RECIPE), write_inputs(tmp / "in.jsonl"), out=tmp / out,
        durable=db, batch_id=batch_id, concurrency=3,
    ))
    assert report.done + report.failed == len(ORDERS) - report.skipped
    return records(tmp / out)


def test_a_batch_run_again_under_its_id_replays_every_run_and_retries_failed_ones(
    system_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "effects.log"
    monkeypatch.setenv("DURABLE_LOG", str(log))
    monkeypatch.setenv("DURABLE_FAIL", "2")
    first = orders_run(tmp_path, system_db, "first.jsonl")
    failed = [r for r in first if not r["ok"]]
    assert [r["id"] for r in failed] == ["o2"] and "500" in failed[0]["error"]
    once = log_lines(log)

    # A new results file, the same batch id: every run that finished is found by what it
    # is (the parallel checks too) and replayed; the one that failed is retried from its
    # failed model call, its tools not run again.
    monkeypatch.delenv("DURABLE_FAIL")
    again = orders_run(tmp_path, system_db, "again.jsonl")
    assert all(r["ok"] for r in again)
    assert log_lines(log) - once == Counter({"model 2 Process 2": 1})
    outputs = {r["id"]: r["output"] for r in again}
    assert {r["id"]: r["output"] for r in first if r["ok"]}.items() <= outputs.items()
    usage = {r["id"]: r["usage"]["requests"] for r in again}
    assert usage == {f"o{n}": 5 for n in ORDERS}  # replayed replies count once each

    # Under another id the batch is another: everything runs again.
    orders_run(tmp_path, system_db, "other.jsonl", batch_id="other")
    assert log_lines(log)["tool charge 1"] == 2


def test_what_cannot_work_is_refused_with_what_to_do(tmp_path: Path) -> None:
    items = [("a", {"order": "1"})]
    out = tmp_path / "out.jsonl"

    def refused(**options: Any) -> str:
        with pytest.raises(UsageError) as caught:
            anyio.run(lambda: run_batch(RECIPE, items, out=out, **options))
        return str(caught.value)

    assert "postgresql://" in refused(durable="mysql://root:secret@db/x")
    assert "secret" not in refused(durable="mysql://root:secret@db/x")
    sqlite = f"sqlite:///{tmp_path / 'runs.sqlite'}"
    assert "SQLite is a file on one machine" in refused(durable=sqlite, engine=RayEngine())
    assert "pass durable= too" in refused(batch_id="x")
    # A run store is the natural guess: it raised AttributeError ('startswith').
    with SQLiteStore(tmp_path / "runs.db") as store:
        assert "pass run_id= and store=" in refused(durable=store)
    with pytest.raises(UsageError, match="without ':'"):
        DurableRunner(RecipeRunner(RECIPE), db=sqlite, batch_id="a:b")
    assert not out.exists() or not out.read_text()


def test_the_command_refuses_durable_options_without_durable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from agentkit.cli.main import main

    inputs = write_inputs(tmp_path / "in.jsonl")
    out = str(tmp_path / "out.jsonl")
    assert main(["batch", str(RECIPE_FILE), str(inputs), "--out", out, "--db", "x"]) == 2
    assert "add --durable" in capsys.readouterr().err
    code = main(["batch", str(RECIPE_FILE), str(inputs), "--out", out, "--durable",
                 "--engine", "ray", "--db", f"sqlite:///{tmp_path / 'r.sqlite'}"])
    assert code == 2
    assert "give a postgresql:// URL" in capsys.readouterr().err


@pytest.mark.asyncio
async def test_hosted_runs_are_found_again_by_prefix_and_content(launched: str) -> None:
    from agentkit import Agent, AsyncClient
    from agentkit.dbos import HostedRuns
    from agentkit.testing import FakeServer, FunctionModel, last_user_text, text_reply

    model = FunctionModel(lambda body: text_reply(f"echo {last_user_text(body)}"))
    with FakeServer(model) as server:
        async with AsyncClient(api_key="sk-test", base_url=server.base_url) as client:
            agent = Agent("claude-sonnet-4-5", client=client, name="echo")

            async def both(prefix: str) -> list[str]:
                with HostedRuns(prefix).active():
                    return [(await agent.run(p)).text for p in ("a", "b", "a")]

            first = await both("p1")
            assert len(server.requests) == 3  # the same prompt twice: two runs
            assert await both("p1") == first and len(server.requests) == 3
            assert await both("p2") == first and len(server.requests) == 6
            assert (await agent.run("a")).text == "echo a"  # outside: the agent's own run
            assert len(server.requests) == 7


@pytest.mark.asyncio
async def test_a_batch_runs_on_the_dbos_this_process_launched_and_never_takes_it_over(
    launched: str, tmp_path: Path
) -> None:
    from dbos import DBOS

    items = [(f"o{n}", {"order": n}) for n in ORDERS[:2]]
    mine = DurableRunner(RecipeRunner(RECIPE), batch_id="mine")
    report = await run_batch(mine, items, out=tmp_path / "out.jsonl")
    assert report.done == 2
    workflows = await DBOS.list_workflows_async()
    assert {w.workflow_id.split(":")[1] for w in workflows} == {"o1", "o2"}
    with pytest.raises(UsageError, match="launched in this process already"):
        await run_batch(RECIPE, items, out=tmp_path / "other.jsonl", durable=launched)
    assert DBOS.executor_id == "test-executor"  # still the test's DBOS, still launched
    assert await DBOS.get_workflow_status_async(workflows[0].workflow_id) is not None


@pytest.mark.asyncio
async def test_the_same_run_twice_at_once_is_refused(launched: str) -> None:
    from agentkit import Agent, AsyncClient
    from agentkit.dbos import HostedRuns
    from agentkit.testing import FakeServer, Fault, FunctionModel, text_reply

    arrived = anyio.Event()
    model = FunctionModel(lambda body: Fault.slow(0.5, reply=text_reply("slow")))
    with FakeServer(model) as server:
        async with AsyncClient(api_key="sk-test", base_url=server.base_url) as client:
            agent = Agent("claude-sonnet-4-5", client=client)

            async def first() -> None:
                with HostedRuns("same").active():
                    arrived.set()
                    await agent.run("hi")

            async with anyio.create_task_group() as tg:
                tg.start_soon(first)
                await arrived.wait()
                with HostedRuns("same").active(), pytest.raises(UsageError, match="prefix of"):
                    await agent.run("hi")


@pytest.mark.asyncio
async def test_no_database_and_no_launched_dbos_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="DBOS is not launched"):
        await run_batch(DurableRunner(RecipeRunner(RECIPE)), [("a", {"order": "1"})],
                        out=tmp_path / "out.jsonl")


def test_the_command_shows_the_database_without_its_password() -> None:
    from agentkit.cli.batch import _shown

    assert _shown("postgresql://runs:s3cret@db:5432/x") == "postgresql://runs:***@db:5432/x"
    assert _shown("sqlite:///tmp/runs.sqlite") == "sqlite:///tmp/runs.sqlite"


@pytest.mark.asyncio
async def test_a_hosted_run_s_events_carry_the_run_id_its_tools_see(launched: str) -> None:
    # Events got a run id made up for each execution ("run-1") while tools saw the
    # workflow's as `ctx.run_id`: a consumer could not tie an event to its run.
    from agentkit import Agent, AsyncClient, tool
    from agentkit.dbos import HostedRuns
    from agentkit.events import AgentEvent
    from agentkit.testing import ScriptedTransport, reply, text_reply

    seen: list[str | None] = []

    @tool
    async def charge(ctx: RunContext[None], order: int) -> str:
        """Charge an order."""
        seen.append(ctx.run_id)
        return f"charged {order}"

    transport = ScriptedTransport([reply(tool_calls=[("charge", {"order": 1})]),
                                   text_reply("Done.")])
    async with AsyncClient(api_key="sk-test", transport=transport) as client:
        agent = Agent("claude-sonnet-4-5", tools=[charge], client=client, name="orders")
        events: list[AgentEvent] = []
        with HostedRuns("events").active():
            await agent.run("Charge order 1", on_event=events.append)
    assert seen[0] is not None and seen[0].startswith("events:orders:")
    assert {e.run_id for e in events} == {seen[0]}


@pytest.mark.asyncio
async def test_decisions_given_to_a_hosted_run_are_refused_not_silently_dropped(
    launched: str,
) -> None:
    # A hosted run that met a call needing approval ends its workflow paused; the same call
    # made again with decisions= is a new workflow (each call is one), so it was refused as
    # naming "no tool call of this run", which sent the user looking for a typo.
    from agentkit import Agent, AsyncClient, tool
    from agentkit.dbos import HostedRuns
    from agentkit.testing import ScriptedTransport, reply, text_reply

    ran: list[int] = []

    @tool(requires_approval=True)
    async def refund(order: int) -> str:
        """Refund an order."""
        ran.append(order)
        return f"refunded {order}"

    transport = ScriptedTransport([reply(tool_calls=[("refund", {"order": 7}, "toolu_1")]),
                                   text_reply("Refunded.")])
    async with AsyncClient(api_key="sk-test", transport=transport) as client:
        agent = Agent("claude-sonnet-4-5", tools=[refund], client=client, name="refunds")
        with HostedRuns("approvals").active():
            paused = await agent.run("Refund order 7")
            assert paused.pending_approvals and paused.stop_reason == "approval_required"
            with pytest.raises(UsageError, match="approve=") as refused:
                await agent.run("Refund order 7", decisions={"toolu_1": True})
    assert "HostedRuns" in str(refused.value) and ran == []
