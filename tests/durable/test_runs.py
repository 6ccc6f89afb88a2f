"""Durable runs through `Agent.run(run_id=..., store=...)`: start, finish, resume after a
crash, the checkpoint rules, bad input. A crash is simulated in-process by a `BaseException`
raised from a tool or a hook (the run stops as a killed process would, its journal as it was);
the real SIGKILL test is `test_crash.py`."""

from __future__ import annotations

import os
import shlex
import shutil
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest
from pydantic import BaseModel

from agentkit import (
    Agent,
    AsyncClient,
    Hooks,
    LimitExceeded,
    Limits,
    RunContext,
    RunError,
    SQLiteStore,
    ToolExecution,
    UsageError,
    tool,
    validate_conversation,
)
from agentkit._run.fingerprint import fingerprint
from agentkit._run.replay import INTERRUPTED
from agentkit._run.tool_calls import NOT_BEGUN
from agentkit.cli.main import main as cli_main
from agentkit.errors import (
    ConversationError,
    RunLockedError,
    RunMismatchError,
    StoreError,
    StoreFormatError,
)
from agentkit.testing import Fault, ScriptedTransport, reply, text_reply

MODEL = "claude-sonnet-4-5"


class Crash(BaseException):
    """Stands for the process dying: not an `Exception`, so nothing turns it into a result."""


class World:
    """Side effects, as the outside world sees them."""

    def __init__(self) -> None:
        self.effects: list[tuple[str, str | None]] = []
        self.crash_in: set[str] = set()


def make_tools(world: World) -> list[Any]:
    @tool(idempotent=True)
    async def lookup(ctx: RunContext[None], key: str) -> str:
        """Look a value up."""
        world.effects.append(("lookup", ctx.idempotency_key))
        if "lookup" in world.crash_in:
            world.crash_in.discard("lookup")
            raise Crash
        return f"value-{key}"

    @tool
    async def charge(ctx: RunContext[None], order: int) -> str:
        """Charge an order."""
        world.effects.append(("charge", ctx.idempotency_key))
        if "charge" in world.crash_in:
            world.crash_in.discard("charge")
            raise Crash
        return f"charged {order}"

    return [lookup, charge]


def steps() -> list[Any]:
    return [
        reply(
            tool_calls=[("lookup", {"key": "a"}, "toolu_1"), ("charge", {"order": 1}, "toolu_2")]
        ),
        text_reply("All done."),
    ]


def agent_for(
    transport: ScriptedTransport, world: World, extra_tools: Sequence[Any] = (), **kwargs: Any
) -> Agent[Any]:
    client = AsyncClient(api_key="sk-test", transport=transport, max_retries=0)
    return Agent(MODEL, tools=[*make_tools(world), *extra_tools], client=client, **kwargs)


@pytest.fixture
def store(tmp_path: Path) -> SQLiteStore:
    return SQLiteStore(tmp_path / "runs.db")


@pytest.mark.asyncio
@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
async def test_a_finished_run_is_returned_again_without_calling_the_model(
    store: SQLiteStore, stream: bool
) -> None:
    world = World()
    agent = agent_for(ScriptedTransport(steps()), world, stream=stream)
    first = await agent.run("Charge order 1", run_id="r1", store=store)
    assert first.text == "All done."

    again = agent_for(ScriptedTransport([]), World(), stream=stream)  # any model call fails
    second = await again.run("Charge order 1", run_id="r1", store=store)
    assert second.text == "All done." and second.messages == first.messages
    assert second.usage.requests == first.usage.requests == 2
    header = store.header("r1")
    assert header is not None and header.status == "finished" and header.turns == 2
    assert world.effects == [("lookup", "r1:toolu_1"), ("charge", "r1:toolu_2")]


@pytest.mark.asyncio
async def test_a_non_idempotent_call_cut_by_a_crash_is_answered_as_interrupted_never_rerun(
    store: SQLiteStore,
) -> None:
    world = World()
    world.crash_in.add("charge")
    with pytest.raises(Crash):
        await agent_for(ScriptedTransport(steps()[:1]), world).run(
            "Charge order 1", run_id="r1", store=store
        )
    resumed = agent_for(transport := ScriptedTransport(steps()[1:]), world)
    result = await resumed.run("Charge order 1", run_id="r1", store=store)

    assert [e for e in world.effects if e[0] == "charge"] == [("charge", "r1:toolu_2")]
    sent = transport.requests[0].body["messages"][-1]["content"]
    charged = next(b for b in sent if b["tool_use_id"] == "toolu_2")
    assert charged["is_error"] is True and charged["content"] == INTERRUPTED
    validate_conversation(result.messages)
    assert result.usage.requests == 2  # the replayed reply counted once


def researcher(transport: ScriptedTransport) -> Agent[str]:
    client = AsyncClient(api_key="sk-test", transport=transport, max_retries=0)
    return Agent(MODEL, name="researcher", description="Researches a question.", client=client)


@pytest.mark.asyncio
async def test_a_sub_agent_s_usage_survives_a_crash_and_counts_once(store: SQLiteStore) -> None:
    # A sub-agent's usage counts in its caller's (`as_tool`) but is in none of the caller's
    # replies: the journal keeps it, so neither a resume nor a re-call drops it or counts it
    # twice (the sub-agent is not run again either).
    script = [reply(tool_calls=[("researcher", {"task": "Oslo?"}, "toolu_1")]), text_reply("4 C.")]

    def parent(transport: ScriptedTransport, sub: ScriptedTransport, hooks: Hooks) -> Agent[Any]:
        client = AsyncClient(api_key="sk-test", transport=transport, max_retries=0)
        return Agent(MODEL, tools=[researcher(sub).as_tool()], client=client, hooks=hooks)

    whole = await parent(ScriptedTransport(script), ScriptedTransport([text_reply("4 C")]),
                         Hooks()).run("Weather?")
    assert whole.usage.requests == 3  # the caller's two replies and the sub-agent's one

    asked: list[int] = []

    def crash_before_the_second_call(ctx: RunContext[None], params: object) -> None:
        asked.append(1)
        if len(asked) == 2:
            raise Crash  # the sub-agent's result is committed; its caller's next call is not

    with pytest.raises(Crash):
        await parent(ScriptedTransport(script[:1]), ScriptedTransport([text_reply("4 C")]),
                     Hooks(before_model=crash_before_the_second_call)).run(
            "Weather?", run_id="r1", store=store)
    resumed = await parent(ScriptedTransport(script[1:]), ScriptedTransport([]), Hooks()).run(
        "Weather?", run_id="r1", store=store)
    again = await parent(ScriptedTransport([]), ScriptedTransport([]), Hooks()).run(
        "Weather?", run_id="r1", store=store)

    assert resumed.text == again.text == "4 C."
    assert resumed.usage == again.usage == whole.usage
    header = store.header("r1")
    assert header is not None
    assert header.input_tokens + header.output_tokens == (
        whole.usage.input_tokens + whole.usage.output_tokens
    )
    assert [e.kind for e in store.entries("r1")].count("usage") == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("ending", ["max_cost", "failed"])
async def test_a_run_ending_after_a_sub_agent_s_call_is_listed_with_its_usage(
    store: SQLiteStore, ending: str
) -> None:
    # The header's totals (agentkit runs list, the viewer, store.runs()) were set by replies
    # only: a run that ended with no reply after a sub-agent's call (its cost past max_cost,
    # the next model call failing) was listed without the sub-agent's tokens and cost.
    script: list[Any] = [reply(tool_calls=[("researcher", {"task": "Oslo?"}, "toolu_1")])]
    if ending == "failed":
        script.append(Fault.error(400, message="no"))
    client = AsyncClient(api_key="sk-test", transport=ScriptedTransport(script), max_retries=0)
    sub = researcher(ScriptedTransport([text_reply("4 C " * 2000)]))
    limits = Limits(max_cost=0.01) if ending == "max_cost" else None
    agent = Agent(MODEL, tools=[sub.as_tool()], client=client, limits=limits)
    with pytest.raises(LimitExceeded if ending == "max_cost" else RunError) as raised:
        await agent.run("Weather?", run_id="r1", store=store)

    usage = raised.value.usage
    assert usage.requests == 2  # the caller's reply and the sub-agent's
    header = store.header("r1")
    assert header is not None and header.turns == 1
    assert (header.input_tokens, header.output_tokens, header.cost_usd) == (
        usage.input_tokens, usage.output_tokens, usage.known_cost_usd
    )
    assert header.cost_usd > 0.01 or ending == "failed"


@pytest.mark.asyncio
async def test_calls_marked_started_that_never_began_are_answered_not_run_not_interrupted(
    store: SQLiteStore,
) -> None:
    # A batch whose first call fails (raise_errors) cancels the others before they begin: they
    # were marked started, so a resume answered them "Interrupted: ... may or may not have
    # taken effect", though the process that marked them knew they never ran.
    sent: list[str] = []
    broken = [True]

    @tool
    async def audit(ctx: RunContext[None]) -> str:
        """Write the audit line."""
        if broken[0]:
            raise ValueError("the audit log is full")
        return "written"

    @tool
    async def email(ctx: RunContext[None], to: str) -> str:
        """Send an email."""
        sent.append(to)
        return "sent"

    def agent(script: list[Any]) -> Agent[str]:
        client = AsyncClient(api_key="sk-test", transport=ScriptedTransport(script), max_retries=0)
        return Agent(MODEL, tools=[audit, email], client=client,
                     tool_execution=ToolExecution(raise_errors=True))

    calls = [("audit", {}, "toolu_1"), ("email", {"to": "a"}, "toolu_2"),
             ("email", {"to": "b"}, "toolu_3")]
    with pytest.raises(RunError, match="the audit log is full"):
        await agent([reply(tool_calls=calls)]).run("Mail them", run_id="r1", store=store)
    assert sent == []
    broken[0] = False
    resumed = await agent([text_reply("Done.")]).run("Mail them", run_id="r1", store=store)
    answers = {b["tool_use_id"]: b for b in resumed.messages[2]["content"]}
    assert answers["toolu_1"]["content"] == FAILED  # it ran: its effect is not known
    for never in ("toolu_2", "toolu_3"):
        assert answers[never]["is_error"] and answers[never]["content"] == NOT_BEGUN
    assert sent == []  # never run twice, and never told it may have run


FAILED = (
    "Not finished: the run failed (ValueError) before this call finished. If it had begun, it "
    "may or may not have taken effect: check before calling it again."
)


@pytest.mark.parametrize("parallel", [False, True], ids=["alone", "parallel"])
@pytest.mark.asyncio
async def test_a_call_that_failed_the_run_is_told_so_on_resume_not_that_the_process_stopped(
    store: SQLiteStore, parallel: bool
) -> None:
    # With raise_errors, a non-idempotent tool that raised left its "started" mark with no
    # result: the resume told the model "Interrupted: the process running this tool call
    # stopped", though the process went on and the tool raised. It is told what the failed
    # run's own history says.
    charged: list[int] = []
    packing = anyio.Event()

    @tool
    async def charge(ctx: RunContext[None], order: int) -> str:
        """Charge an order."""
        charged.append(order)
        if order == 1:
            await packing.wait()  # a call next to it is running: it is cut by the failure
            raise ValueError("the card was declined")
        packing.set()
        await anyio.Event().wait()
        return "never"

    def agent(script: list[Any]) -> Agent[str]:
        client = AsyncClient(api_key="sk-test", transport=ScriptedTransport(script), max_retries=0)
        return Agent(MODEL, tools=[charge], client=client,
                     tool_execution=ToolExecution(raise_errors=True))

    calls = [("charge", {"order": 1}, "toolu_1")]
    if parallel:
        calls.append(("charge", {"order": 2}, "toolu_2"))
    else:
        packing.set()
    with pytest.raises(RunError, match="the card was declined") as failed:
        await agent([reply(tool_calls=calls)]).run("Charge", run_id="r1", store=store)
    in_memory = {b["tool_use_id"]: b for b in failed.value.messages[2]["content"]}
    resumed = await agent([text_reply("Done.")]).run("Charge", run_id="r1", store=store)
    answers = {b["tool_use_id"]: b for b in resumed.messages[2]["content"]}
    assert answers == in_memory
    assert {b["content"] for b in answers.values()} == {FAILED}
    assert all(b["is_error"] for b in answers.values())
    assert charged == [1, 2][: len(calls)]  # none run again


@pytest.mark.asyncio
async def test_an_idempotent_call_cut_by_a_crash_runs_again_with_the_same_key(
    store: SQLiteStore,
) -> None:
    world = World()
    world.crash_in.add("lookup")
    with pytest.raises(Crash):
        await agent_for(ScriptedTransport(steps()[:1]), world).run(
            "Charge order 1", run_id="r1", store=store
        )
    result = await agent_for(ScriptedTransport(steps()[1:]), world).run(
        "Charge order 1", run_id="r1", store=store
    )
    assert result.text == "All done."
    lookups = [e for e in world.effects if e[0] == "lookup"]
    assert lookups == [("lookup", "r1:toolu_1"), ("lookup", "r1:toolu_1")]
    results = [b for b in result.messages[2]["content"] if b["type"] == "tool_result"]
    # The charge, queued beside the lookup, was cancelled before it began: marked started, it
    # is never run (now or on resume) and is answered as interrupted.
    assert [e for e in world.effects if e[0] == "charge"] == []
    assert {b["tool_use_id"]: b.get("is_error", False) for b in results} == {
        "toolu_1": False,
        "toolu_2": True,
    }


@pytest.mark.asyncio
async def test_a_crash_during_a_model_call_repeats_only_that_call(store: SQLiteStore) -> None:
    calls = 0

    def die_on_second(ctx: RunContext[Any], params: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise Crash

    world = World()
    with pytest.raises(Crash):
        await agent_for(
            ScriptedTransport(steps()[:1]), world, hooks=Hooks(before_model=die_on_second)
        ).run("Charge order 1", run_id="r1", store=store)
    transport = ScriptedTransport(steps()[1:])
    result = await agent_for(transport, world).run("Charge order 1", run_id="r1", store=store)
    assert result.text == "All done." and len(transport.requests) == 1
    assert [e[0] for e in world.effects] == ["lookup", "charge"]


@pytest.mark.asyncio
async def test_a_paused_run_is_stored_paused_and_resumed_with_decisions(
    store: SQLiteStore,
) -> None:
    world = World()
    tools = make_tools(world)
    tools[1] = tools[1].replace(requires_approval=True)
    client = AsyncClient(api_key="sk-test", transport=ScriptedTransport(steps()), max_retries=0)
    agent = Agent(MODEL, tools=tools, client=client, store=store)  # the agent's default store
    paused = await agent.run("Charge order 1", run_id="r1")
    assert paused.pending_approvals and store.header("r1").status == "paused"  # type: ignore[union-attr]
    assert world.effects == []  # a turn needing approval runs none of its calls yet

    stored = store.entries("r1")  # a decision for no call of the run: refused, nothing stored
    with pytest.raises(UsageError, match=r"'toolu_7', which is no tool call of this run; the "
                       r"calls awaiting a decision are 'toolu_2' \(charge\)"):
        await agent.run(run_id="r1", decisions={"toolu_7": True})
    assert store.entries("r1") == stored and store.header("r1").status == "paused"  # type: ignore[union-attr]

    done = await agent.run(run_id="r1", decisions={"toolu_2": True})
    assert done.text == "All done." and [e[0] for e in world.effects] == ["lookup", "charge"]
    assert store.header("r1").status == "finished"  # type: ignore[union-attr]
    finished = store.entries("r1")
    again = await agent.run(run_id="r1", decisions={"toolu_2": True})  # the same call, repeated
    assert again.text == "All done." and store.entries("r1") == finished  # nothing given twice
    assert [e[0] for e in world.effects] == ["lookup", "charge"]


@pytest.mark.asyncio
async def test_a_decision_once_given_is_final_while_its_call_waits_to_run(
    store: SQLiteStore,
) -> None:
    # A resume approved the charge and was cut before it ran (the lookup, run first, crashed);
    # a second resume could deny it, or approve what the first denied, and the journal then
    # held two decisions for one call. The first stands: repeated, it is left out; changed,
    # it is refused (nothing stored) and the call runs once, as first decided.
    world = World()
    lookup, charge = make_tools(world)
    tools = [lookup.replace(sequential=True), charge.replace(requires_approval=True)]
    client = AsyncClient(api_key="sk-test", transport=ScriptedTransport(steps()), max_retries=0)
    agent = Agent(MODEL, tools=tools, client=client, store=store)
    assert (await agent.run("Charge order 1", run_id="r1")).pending_approvals
    world.crash_in.add("lookup")
    with pytest.raises(Crash):
        await agent.run(run_id="r1", decisions={"toolu_2": True})
    stored = store.entries("r1")
    with pytest.raises(UsageError, match=r"'toolu_2' \(charge\) was approved already.*Nothing "
                       "was decided"):
        await agent.run(run_id="r1", decisions={"toolu_2": "changed my mind"})
    assert store.entries("r1") == stored and world.effects == [("lookup", "r1:toolu_1")]
    done = await agent.run(run_id="r1", decisions={"toolu_2": True})  # the same: left out
    assert done.text == "All done."
    assert [e[0] for e in world.effects] == ["lookup", "lookup", "charge"]
    assert [e.kind for e in store.entries("r1")].count("decisions") == 1


@pytest.mark.asyncio
async def test_a_run_whose_journal_is_missing_is_refused_never_run_again(
    tmp_path: Path,
) -> None:
    # A store copied without its journals' folder, or a journal deleted by hand: the header
    # says the run went on, the journal that would say how is gone. Running it again from the
    # start would charge again; it is refused until the file is back or the run deleted.
    world = World()
    with SQLiteStore(tmp_path / "runs.db") as store:
        await agent_for(ScriptedTransport(steps()), world).run("Charge 1", run_id="r1", store=store)
        (journal,) = Path(f"{store.path}.journals").iterdir()
        moved = journal.rename(tmp_path / "kept.log")
        with pytest.raises(StoreError, match=r"the journal of run 'r1' is missing .*nothing was "
                           r"run.*agentkit runs rm r1 --db"):
            await agent_for(ScriptedTransport(steps()), world).run("Charge 1", run_id="r1",
                                                                   store=store)
        assert store.header("r1").status == "finished"  # type: ignore[union-attr]
        moved.rename(journal)  # the file back: the run is whole again
        again = await agent_for(ScriptedTransport([]), world).run("Charge 1", run_id="r1",
                                                                  store=store)
        assert again.text == "All done."
        shutil.rmtree(f"{store.path}.journals")  # the whole folder: new runs make it again
        assert store.delete("r1")
        done = await agent_for(ScriptedTransport(steps()), world).run("Charge 1", run_id="r1",
                                                                      store=store)
        assert done.text == "All done."
    assert [e[0] for e in world.effects] == ["lookup", "charge", "lookup", "charge"]


GONE = (r"the run store .*runs.db is new \(no such file, or an empty one\), but its journals "
        r"folder .*runs.db.journals holds the journals of 1 run: the store file that named them "
        r"was deleted or moved.*Put the file back.*or delete the folder too.*Nothing was "
        r"changed")


@pytest.mark.asyncio
async def test_a_store_file_moved_away_from_its_journals_is_refused_never_run_again(
    tmp_path: Path,
) -> None:
    # The store file moved (or deleted) and its journals left: a new file made in its place
    # started every run over (charging again) and gave their keys, so their journals, to new
    # runs. It is refused, nothing made, until the file is back.
    world, path = World(), tmp_path / "runs.db"
    with SQLiteStore(path) as store:
        await agent_for(ScriptedTransport(steps()), world).run("Charge 1", run_id="r1", store=store)
    journal = next(Path(f"{path}.journals").iterdir())
    written = journal.read_bytes()
    moved = path.rename(tmp_path / "runs.db.bak")
    for made in (lambda: None, path.touch):  # no file, or an empty one
        made()
        with pytest.raises(StoreError, match=GONE):
            SQLiteStore(path)
        assert not path.exists() or path.stat().st_size == 0
    assert journal.read_bytes() == written
    moved.replace(path)  # the file back: the run is whole again
    with SQLiteStore(path) as store:
        again = await agent_for(ScriptedTransport([]), world).run("Charge 1", run_id="r1",
                                                                  store=store)
    assert again.text == "All done."
    assert [e[0] for e in world.effects] == ["lookup", "charge"]


@pytest.mark.asyncio
@pytest.mark.parametrize("how", ["deleted", "replaced"])
async def test_a_store_file_deleted_or_replaced_under_a_run_takes_no_run_after_it(
    tmp_path: Path, how: str
) -> None:
    # Deleted under a running run (whose rows went to the unlinked file), the store went on
    # taking runs into that file, and the next SQLiteStore(path) made a new store, where the
    # same call charged again. The run that held it ends as it would; the store then claims
    # no run (its rows would go to a file no longer there), and no new store is made.
    world, path = World(), tmp_path / "runs.db"
    other = tmp_path / "other.db"
    SQLiteStore(other).close()

    def move_the_store(ctx: RunContext[None], call: object, block: object) -> None:
        if ctx.tool_name != "charge":
            return
        for leftover in tmp_path.glob("runs.db*"):
            if leftover.is_file():
                leftover.unlink()
        if how == "replaced":
            other.replace(path)

    hooks = Hooks(after_tool=move_the_store)
    with SQLiteStore(path) as store:
        done = await agent_for(ScriptedTransport(steps()), world, hooks=hooks).run(
            "Charge 1", run_id="r1", store=store)
        assert done.text == "All done."
        for run_id in ("r1", "r2"):
            with pytest.raises(StoreError, match=(
                    rf"cannot run '{run_id}': the run store file .*runs.db was {how} since this "
                    r"SQLiteStore opened it.*nothing was run. Put the file back")):
                await agent_for(ScriptedTransport(steps()), world).run(
                    "Charge 1", run_id=run_id, store=store)
    if how == "deleted":
        with pytest.raises(StoreError, match=GONE):
            SQLiteStore(path)
        assert not path.exists()
    assert [e[0] for e in world.effects] == ["lookup", "charge"]


@pytest.mark.asyncio
@pytest.mark.parametrize("run_id", ["-x7 Gq", "orders 7"], ids=["dash", "space"])
async def test_the_delete_command_a_store_error_suggests_works_as_written(
    tmp_path: Path, run_id: str
) -> None:
    # The message named `agentkit runs rm -x7 Gq --db ...`: the shell splits the id, and the
    # command line takes an id that begins with "-" for an option. Quoted, and after `--`.
    with SQLiteStore(tmp_path / "runs.db") as store:
        await agent_for(ScriptedTransport(steps()), World()).run("Charge 1", run_id=run_id,
                                                                 store=store)
        (journal,) = Path(f"{store.path}.journals").iterdir()
        journal.unlink()
        with pytest.raises(StoreError) as raised:
            await agent_for(ScriptedTransport([]), World()).run(run_id=run_id, store=store)
    command = str(raised.value).split("(`")[1].split("`)")[0]
    argv = shlex.split(command)
    assert argv[:2] == ["agentkit", "runs"]
    assert cli_main(["runs", "--yes", *argv[2:]]) == 0
    with SQLiteStore(tmp_path / "runs.db") as store:
        assert store.header(run_id) is None


@pytest.mark.asyncio
@pytest.mark.parametrize("damage", ["garbage", "zeros", "cut-short"])
async def test_a_journal_holding_less_than_the_store_counted_is_refused_and_left_alone(
    tmp_path: Path, damage: str,
) -> None:
    # A journal overwritten (garbage, or the zeros a lost write leaves) or cut below what the
    # header had counted lost entries the run made: resuming from what is left would repeat
    # them (the charge among them). It is refused, the file left as it is for a restore.
    world = World()
    with SQLiteStore(tmp_path / "runs.db") as store:
        await agent_for(ScriptedTransport(steps()), world).run("Charge 1", run_id="r1", store=store)
        (journal,) = Path(f"{store.path}.journals").iterdir()
        whole = journal.read_bytes()
        damaged = {
            "garbage": os.urandom(len(whole)).replace(b"\n", b"."),
            "zeros": bytes(len(whole)),
            "cut-short": whole[: whole.index(b"\n", len(whole) // 2) + 1],
        }[damage]
        journal.write_bytes(damaged)
        with pytest.raises(StoreError, match=r"the journal of run 'r1' .* holds \d+ whole "
                           r"entr.*the store counted \d+.*nothing was run.*runs rm r1 --db"):
            await agent_for(ScriptedTransport(steps()), world).run("Charge 1", run_id="r1",
                                                                   store=store)
        assert journal.read_bytes() == damaged  # nothing cut off
        assert store.header("r1").status == "finished"  # type: ignore[union-attr]
        journal.write_bytes(whole)  # restored: the run is whole again
        again = await agent_for(ScriptedTransport([]), world).run("Charge 1", run_id="r1",
                                                                  store=store)
        assert again.text == "All done."
    assert [e[0] for e in world.effects] == ["lookup", "charge"]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("other_id", "named"), [("refunds", "refunds"), ("orders", "orders")],
    ids=["another-run-id", "same-id-another-prompt"],
)
async def test_a_store_with_another_store_s_journals_is_refused_nothing_written(
    tmp_path: Path, other_id: str, named: str
) -> None:
    # Journals are named by the store's row key: store A's file beside store B's journals
    # (restored from another backup, two stores' files swapped) finds B's journal under A's
    # run. Resumed, it would go on from another run's conversation.
    a, b = tmp_path / "a", tmp_path / "b"
    for folder, run_id, prompt in ((a, "orders", "Charge 1"), (b, other_id, "Refund 1")):
        folder.mkdir()
        world = World()
        world.crash_in.add("charge")
        with SQLiteStore(folder / "runs.db") as store, pytest.raises(Crash):
            await agent_for(ScriptedTransport(steps()[:1]), world).run(
                prompt, run_id=run_id, store=store)
    kept = a / "kept.journals"
    shutil.move(a / "runs.db.journals", kept)
    shutil.copytree(b / "runs.db.journals", a / "runs.db.journals")
    (journal,) = (a / "runs.db.journals").iterdir()
    data = journal.read_bytes()
    with SQLiteStore(a / "runs.db") as store:
        header = store.header("orders")
        transport = ScriptedTransport(steps()[1:])
        with pytest.raises(StoreError, match=(
            rf"the journal {journal} is not run 'orders'.s: it is run '{named}'.s .*do not "
            r"belong together.*nothing was changed. Put back the journals folder")):
            await agent_for(transport, World()).run("Charge 1", run_id="orders", store=store)
        assert transport.requests == []
        assert store.header("orders") == header and journal.read_bytes() == data
        shutil.rmtree(a / "runs.db.journals")
        shutil.move(kept, a / "runs.db.journals")  # its own journals back: it resumes
        result = await agent_for(transport, World()).run("Charge 1", run_id="orders",
                                                         store=store)
    assert result.text == "All done."


@pytest.mark.asyncio
async def test_tool_text_that_is_not_utf8_is_escaped_so_the_run_and_its_commits_go_on(
    store: SQLiteStore,
) -> None:
    # `os.listdir` gives a file name that is not UTF-8 as a str with a lone surrogate; as is,
    # it fails the result's commit and every request after it (an idempotent tool would fail
    # the same way on every resume).
    name = b"caf\xe9.txt".decode("utf-8", "surrogateescape")

    @tool(idempotent=True)
    async def listing(ctx: RunContext[None]) -> str:
        """The folder's files."""
        return name

    @tool
    async def opening(ctx: RunContext[None]) -> str:
        """Open the file."""
        raise FileNotFoundError(2, "No such file or directory", name)

    script = [reply(tool_calls=[("listing", {}, "toolu_l"), ("opening", {}, "toolu_o")]),
              text_reply("Done.")]
    client = AsyncClient(api_key="sk", transport=(transport := ScriptedTransport(script)))
    agent = Agent(MODEL, tools=[listing, opening], client=client)
    result = await agent.run("List and open", run_id="u", store=store)
    assert result.text == "Done."
    listed, opened = transport.requests[1].messages[-1]["content"]
    assert listed["content"] == "caf\\udce9.txt"
    assert opened["is_error"] and "caf\\udce9.txt" in opened["content"]
    assert [e.payload for e in store.entries("u") if e.kind == "tool_result"] == [listed, opened]


class Plan(BaseModel):
    steps: list[str]


@pytest.mark.asyncio
async def test_structured_output_is_restored_from_the_store(store: SQLiteStore) -> None:
    script = [reply(tool_calls=[("final_result", {"steps": ["a", "b"]}, "toolu_9")])]
    agent = Agent(
        MODEL,
        output_type=Plan,
        client=AsyncClient(api_key="sk", transport=ScriptedTransport(script), max_retries=0),
    )
    first = await agent.run("Plan it", run_id="p", store=store)
    again = Agent(
        MODEL,
        output_type=Plan,
        client=AsyncClient(api_key="sk", transport=ScriptedTransport([]), max_retries=0),
    )
    second = await again.run("Plan it", run_id="p", store=store)
    assert first.output == second.output == Plan(steps=["a", "b"])


class Forecast(BaseModel):
    city: str


@pytest.mark.asyncio
async def test_a_finished_run_re_called_with_another_output_type_is_refused_not_run_on(
    store: SQLiteStore,
) -> None:
    # The fingerprint holds the output tool's name (final_result, whatever the type): a
    # finished run re-called with another output_type replayed an output the new type
    # refuses, asked the model for another and went on, its stored result replaced.
    script = [reply(tool_calls=[("final_result", {"steps": ["a", "b"]}, "toolu_9")])]
    client = AsyncClient(api_key="sk", transport=ScriptedTransport(script), max_retries=0)
    await Agent(MODEL, output_type=Plan, client=client).run("Plan it", run_id="p", store=store)
    stored = store.entries("p")

    transport = ScriptedTransport([])  # any model call fails
    client = AsyncClient(api_key="sk", transport=transport, max_retries=0)
    other = Agent(MODEL, output_type=Forecast, client=client)
    with pytest.raises(StoreError, match=r"run 'p' finished with a structured output .* this "
                       r"agent's output_type does not accept: .*Nothing was run or changed"):
        await other.run("Plan it", run_id="p", store=store)
    assert transport.requests == [] and store.entries("p") == stored
    header = store.header("p")
    assert header is not None and header.status == "finished"


@pytest.mark.asyncio
async def test_a_run_id_reused_for_another_prompt_or_agent_is_refused_and_nothing_changes(
    store: SQLiteStore,
) -> None:
    await agent_for(ScriptedTransport(steps()), World()).run("Charge 1", run_id="r1", store=store)
    before = store.entries("r1")
    with pytest.raises(RunMismatchError, match=r"'r1' was already used for a different prompt "
                       r"\(the agent is the same\)"):
        await agent_for(ScriptedTransport([]), World()).run("Charge 2", run_id="r1", store=store)
    other = Agent(MODEL, client=AsyncClient(api_key="sk", transport=ScriptedTransport([])))
    with pytest.raises(RunMismatchError, match="for a different agent"):
        await other.run(run_id="r1", store=store)  # no prompt: the agent is still checked
    search = {"type": "web_search_20250305", "name": "web_search", "max_uses": 1}
    with pytest.raises(RunMismatchError):  # server tools are part of the agent too
        await agent_for(ScriptedTransport([]), World(), extra_tools=[search]).run(
            "Charge 1", run_id="r1", store=store
        )
    assert store.entries("r1") == before


@pytest.mark.asyncio
async def test_a_second_process_resuming_a_running_run_gets_run_locked_error(
    store: SQLiteStore,
) -> None:
    entered, release = anyio.Event(), anyio.Event()

    @tool
    async def slow(ctx: RunContext[None]) -> str:
        """Wait."""
        entered.set()
        await release.wait()
        return "ok"

    script = [reply(tool_calls=[("slow", {})]), text_reply("done")]
    client = AsyncClient(api_key="sk", transport=ScriptedTransport(script), max_retries=0)
    agent = Agent(MODEL, tools=[slow], client=client)
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: agent.run("go", run_id="r", store=store))
        await entered.wait()
        in_this_process = r"run 'r' is being run by this process \(pid \d+\), in another task"
        with pytest.raises(RunLockedError, match=in_this_process):
            await agent.run("go", run_id="r", store=store)
        release.set()
    assert store.header("r").status == "finished"  # type: ignore[union-attr]


@pytest.mark.asyncio
async def test_a_run_deleted_while_a_resume_claims_it_is_not_there_and_stays_gone(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The resume read the run's header, then another process deleted the run before the claim:
    # the claim created an empty run in its place, left behind as a run "never started".
    await agent_for(ScriptedTransport(steps()), World()).run("x", run_id="r1", store=store)
    claim = store.claim

    def deleted_meanwhile(run_id: str, **kwargs: Any) -> Any:
        with SQLiteStore(store.path) as other:  # another process, at this very moment
            assert other.delete(run_id)
        return claim(run_id, **kwargs)

    monkeypatch.setattr(store, "claim", deleted_meanwhile)
    with pytest.raises(UsageError, match=r"no run 'r1' in .* to resume; pass a prompt"):
        await agent_for(ScriptedTransport([]), World()).run(run_id="r1", store=store)
    assert store.runs() == [] and not any(Path(f"{store.path}.journals").iterdir())


@pytest.mark.asyncio
async def test_misused_durable_arguments_are_usage_errors(store: SQLiteStore) -> None:
    agent = agent_for(ScriptedTransport([]), World())
    with pytest.raises(UsageError, match="needs a store"):
        await agent.run("x", run_id="r")
    with pytest.raises(UsageError, match="pass run_id= too"):
        await agent.run("x", store=store)
    with pytest.raises(UsageError, match=r"no run 'nope'.*pass a prompt"):
        await agent.run(run_id="nope", store=store)
    with pytest.raises(UsageError, match=r"run_id=5 is not a string \(int\): .*; pass str\(5\) if"):
        await agent.run("x", run_id=5, store=store)  # pyright: ignore[reportArgumentType]
    with pytest.raises(UsageError, match=r"run_id=b'r' is not a string \(bytes\): a durable run"):
        await agent.run("x", run_id=b"r", store=store)  # pyright: ignore[reportArgumentType]
    for blank in ("", "  ", "r\0"):
        with pytest.raises(UsageError, match="must have something in it besides spaces and no NUL"):
            await agent.run("x", run_id=blank, store=store)
    # An id made from a file name that is not UTF-8 (os.listdir's surrogateescape) failed at
    # the claim with SQLite's UnicodeEncodeError, which said nothing of the id.
    with pytest.raises(UsageError, match=r"run_id='r\\udcff.csv': .* lone surrogate '\\udcff' "
                       r"at position 1 .*e\.g\. run_id\.encode\(errors='backslashreplace'\)"):
        await agent.run("x", run_id="r\udcff.csv", store=store)
    assert store.runs() == []  # nothing was stored


@pytest.mark.asyncio
async def test_a_path_given_as_the_store_is_a_usage_error_naming_the_store_to_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `store="runs.db"` (the path, not `SQLiteStore("runs.db")`) raised AttributeError: 'str'
    # object has no attribute 'claim', from inside the run, naming no setting.
    monkeypatch.chdir(tmp_path)
    agent = agent_for(ScriptedTransport([]), World())
    for path in ("runs.db", Path("runs.db")):
        with pytest.raises(UsageError, match=r"store=.*'runs.db'\)? is a path, not a run "
                           r"store: store=SQLiteStore\('runs.db'\) keeps the runs in that file"):
            await agent.run("x", run_id="r", store=path)  # pyright: ignore[reportArgumentType]
    with pytest.raises(UsageError, match=r"store=\{'runs': \[\]\} is a dict without claim, "):
        await agent.run("x", run_id="r", store={"runs": []})  # pyright: ignore[reportArgumentType]
    # Given to the agent, it is refused as the agent is made, not at its first durable run.
    with pytest.raises(UsageError, match=r"store='runs.db' is a path, not a run store: "
                       r"store=SQLiteStore\('runs.db'\) keeps the runs in that file"):
        agent_for(ScriptedTransport([]), World(), store="runs.db")
    with pytest.raises(UsageError, match=r"store=\{'runs': \[\]\} is a dict without claim, "):
        agent_for(ScriptedTransport([]), World(), store={"runs": []})
    assert list(tmp_path.iterdir()) == []  # nothing was made


@pytest.mark.asyncio
async def test_a_caller_s_mistake_on_a_new_run_stores_nothing(store: SQLiteStore) -> None:
    # Decisions given with a new run's prompt stored the run (its start, then `failed`) before
    # they were refused; so did a prompt the first request's checks refuse.
    agent = agent_for(ScriptedTransport([]), World())  # any model call fails
    with pytest.raises(UsageError, match=r"decisions= names 'toolu_1', but run 'r1' is new"):
        await agent.run("x", run_id="r1", store=store, decisions={"toolu_1": True})
    with pytest.raises(UsageError, match=r"decisions\['toolu_1'\] = 3: give True"):
        await agent.run("x", run_id="r2", store=store, decisions={"toolu_1": 3})  # pyright: ignore[reportArgumentType]
    with pytest.raises(ConversationError, match="empty text block"):
        await agent.run([{"type": "text", "text": ""}], run_id="r3", store=store)
    with pytest.raises(UsageError, match=r"Limits\(max_turns=-1\): give a number of at least 0"):
        agent_for(ScriptedTransport([]), World(), limits=Limits(max_turns=-1))
    assert store.runs() == [] and not any(Path(f"{store.path}.journals").iterdir())
    # The same calls, right: the runs start afresh.
    done = await agent_for(ScriptedTransport(steps()), World()).run("x", run_id="r1", store=store)
    assert done.text == "All done." and store.entries("r1")[0].kind == "start"


def test_idempotent_is_a_tool_option_and_the_key_is_the_call_id_outside_a_stored_run() -> None:
    world = World()
    lookup, charge = make_tools(world)
    assert lookup.idempotent and not charge.idempotent
    assert charge.replace(idempotent=True).idempotent
    assert RunContext(deps=None, tool_use_id="toolu_1").idempotency_key == "toolu_1"
    ctx = RunContext(deps=None, tool_use_id="toolu_1", run_id="r")
    assert ctx.idempotency_key == "r:toolu_1"


@pytest.mark.asyncio
async def test_a_run_that_hit_a_limit_is_stored_and_raises_the_same_again(
    store: SQLiteStore,
) -> None:
    world = World()
    agent = agent_for(ScriptedTransport(steps()[:1]), world, limits=Limits(max_turns=1))
    with pytest.raises(LimitExceeded) as first:
        await agent.run("Charge order 1", run_id="r1", store=store)
    again = agent_for(ScriptedTransport([]), World(), limits=Limits(max_turns=1))
    with pytest.raises(LimitExceeded) as second:
        await again.run("Charge order 1", run_id="r1", store=store)
    assert second.value.limit == first.value.limit == "max_turns"
    assert store.header("r1").status == "finished"  # type: ignore[union-attr]
    last = store.entries("r1")[-1]  # stored once: the repeated call changed nothing
    assert last.kind == "status" and last.payload["reason"] == "max_turns"
    assert [e.kind for e in store.entries("r1")].count("status") == 1


@pytest.mark.asyncio
async def test_iter_runs_durably_too(store: SQLiteStore) -> None:
    world = World()
    agent = agent_for(ScriptedTransport(steps()), world)
    async with agent.iter("Charge order 1", run_id="r1", store=store) as run:
        events = [event async for event in run]
    assert run.result is not None and run.result.text == "All done." and events
    assert [e.kind for e in store.entries("r1")] == [
        "start",
        "reply",
        "tool_started",
        "tool_result",
        "tool_result",
        "reply",
        "status",
    ]


@pytest.mark.asyncio
async def test_a_run_written_by_a_newer_agentkit_is_refused_untouched(
    store: SQLiteStore, tmp_path: Path
) -> None:
    await agent_for(ScriptedTransport(steps()), World()).run("Charge", run_id="r1", store=store)
    with sqlite3.connect(tmp_path / "runs.db") as db:
        db.execute("UPDATE runs SET format = format + 1")
    before = (tmp_path / "runs.db").read_bytes()
    with pytest.raises(StoreFormatError, match="newer agentkit"):
        await agent_for(ScriptedTransport([]), World()).run("Charge", run_id="r1", store=store)
    assert (tmp_path / "runs.db").read_bytes() == before


def test_a_fingerprint_tells_agents_and_prompts_apart_however_often_it_is_asked() -> None:
    # The agent's half is hashed once per agent; asking again must give the same answer, and
    # another system prompt, tool list or prompt another one.
    first = Agent(MODEL, system="Be brief.").config
    second = Agent(MODEL, system="Be thorough.").config
    prompt = [{"role": "user", "content": "hi"}]
    names = ["lookup", "charge"]
    one = fingerprint(first, names, prompt)
    assert fingerprint(first, iter(names), prompt) == one  # any iterable of names
    assert fingerprint(second, names, prompt) != one
    assert fingerprint(first, ["lookup"], prompt).split("-")[0] != one.split("-")[0]
    other = fingerprint(first, names, [{"role": "user", "content": "bye"}])
    assert other.split("-")[0] == one.split("-")[0] and other != one


def test_a_fingerprint_takes_a_prompt_holding_a_lone_surrogate() -> None:
    # A history from an earlier run may hold one (a reply's escaped `\\ud800`): resuming by it
    # must not fail, and it still tells prompts apart.
    config = Agent(MODEL).config
    held = fingerprint(config, [], [{"role": "user", "content": "a\ud800b"}])
    assert held == fingerprint(config, [], [{"role": "user", "content": "a\ud800b"}])
    assert held != fingerprint(config, [], [{"role": "user", "content": "a\udfffb"}])
