"""`HostedRuns` reruns (a durable batch run again) after a run that user code failed inside or
after a step: the fix takes effect, nothing that finished is paid for or done again.

A step's user code (an approve callback, a tool under `raise_errors`) raising was recorded
as the step's error, which every rerun raised again: the batch item could never finish. And a
rerun sent the last model call again whenever it was the last step recorded, although its
reply had come (an `after_model` hook failing on it, a limit): a reply paid for twice."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import pytest
from dbos import DBOS

from agentkit import (
    Agent,
    AsyncClient,
    Hooks,
    LimitExceeded,
    Limits,
    RunContext,
    RunError,
    ToolExecution,
    tool,
)
from agentkit.dbos import HostedRuns
from agentkit.testing import Fault, FunctionModel, ScriptedTransport, reply, text_reply

PROMPT = "Charge order 1"


class Orders:
    """An agent whose approve callback, tools and hooks are replaced between two runs."""

    def __init__(self, script: list[Any] | None = None, **options: Any) -> None:
        self.effects: list[str] = []
        self.transport = ScriptedTransport(script or [
            reply(tool_calls=[("charge", {"order": 1})]), text_reply("Done."),
            text_reply("Sent twice."),
        ])
        self.answer: object = True
        """What the approve callback answers."""
        self.fail = False

        @tool(requires_approval=options.pop("approval", False),
              idempotent=options.pop("idempotent", False))
        async def charge(order: int) -> str:
            """Charge an order."""
            self.effects.append("charge")
            if self.fail:
                raise ValueError("the card reader is down")
            return f"charged order {order}"

        def approve(ctx: RunContext[None], call: dict[str, Any]) -> Any:
            return self.answer

        client = AsyncClient(api_key="sk-test", transport=self.transport)
        self.agent = Agent("claude-sonnet-4-5", tools=[charge], client=client, name="orders",
                           approve=approve, **options)

    async def run(self, prefix: str) -> Any:
        with HostedRuns(prefix).active():
            return await self.agent.run(PROMPT)


@pytest.mark.asyncio
async def test_a_rerun_asks_a_fixed_approve_callback_again(launched: str) -> None:
    orders = Orders(approval=True)
    orders.answer = "yes"  # a string denies: refused as a mistake
    with pytest.raises(RunError, match="returned 'yes'"):
        await orders.run("approve")

    orders.answer = True
    result = await orders.run("approve")
    assert result.text == "Done."
    assert orders.effects == ["charge"]
    assert len(orders.transport.requests) == 2  # the first reply not paid for again


@pytest.mark.asyncio
async def test_a_non_idempotent_call_that_failed_the_run_is_told_so_on_rerun_not_run(
    launched: str,
) -> None:
    orders = Orders(tool_execution=ToolExecution(raise_errors=True))
    orders.fail = True
    with pytest.raises(RunError) as failed:
        await orders.run("raised")
    told = failed.value.messages[-1]["content"][0]
    # Its advice is the way that works (followed below), not a plain run's
    said = str(failed.value)
    assert "run the same code again under HostedRuns('raised')" in said
    assert "agent.run(prompt, history=...)" not in said

    orders.fail = False
    result = await orders.run("raised")
    assert result.text == "Done."
    assert orders.effects == ["charge"]  # never twice
    assert result.messages[2]["content"][0] == told  # what the failed run told the model
    assert told["content"].startswith("Not finished: the run failed (ValueError)")
    assert len(orders.transport.requests) == 2


@pytest.mark.asyncio
async def test_a_run_whose_model_call_failed_says_to_rerun_and_the_rerun_goes_on(
    launched: str,
) -> None:
    # Its RunError said "resume with agent.run(state=...)", a plain run's way.
    orders = Orders([reply(tool_calls=[("charge", {"order": 1})]), Fault.overloaded(),
                     text_reply("Done.")], model_retries=0)
    with pytest.raises(RunError) as failed:
        await orders.run("gave-up")
    said = str(failed.value)
    assert "run the same code again under HostedRuns('gave-up')" in said
    assert "agent.run(state=" not in said

    result = await orders.run("gave-up")
    assert result.text == "Done."
    assert orders.effects == ["charge"]  # the finished call not run again
    assert len(orders.transport.requests) == 3  # only the failed request sent again


@pytest.mark.asyncio
async def test_an_idempotent_call_that_failed_the_run_runs_again_on_rerun(launched: str) -> None:
    orders = Orders(tool_execution=ToolExecution(raise_errors=True), idempotent=True)
    orders.fail = True
    with pytest.raises(RunError):
        await orders.run("again")

    orders.fail = False
    result = await orders.run("again")
    assert result.text == "Done."
    assert result.messages[2]["content"][0]["content"] == "charged order 1"
    assert orders.effects == ["charge", "charge"]
    assert len(orders.transport.requests) == 2


@pytest.mark.asyncio
async def test_a_reply_an_after_model_hook_failed_on_is_not_paid_for_again(
    launched: str,
) -> None:
    broken: list[bool] = [True]

    def after_model(ctx: RunContext[None], message: Any) -> None:
        if broken[0]:
            raise ValueError("the hook's bug")

    orders = Orders(hooks=Hooks(after_model=after_model))
    with pytest.raises(RunError):
        await orders.run("held")
    broken[0] = False
    result = await orders.run("held")
    assert result.text == "Done."
    assert orders.effects == ["charge"]
    assert len(orders.transport.requests) == 2
    assert result.usage.requests == 2


@pytest.mark.asyncio
async def test_a_call_the_timeout_cut_is_told_so_on_rerun_not_that_the_process_stopped(
    launched: str,
) -> None:
    # The rerun forks the timed-out run: the cut call has its started mark and no result,
    # which a replay tells as "the process running this tool call stopped".
    never = anyio.Event()
    charged: list[int] = []

    @tool
    async def charge(order: int) -> str:
        """Charge an order."""
        charged.append(order)
        await never.wait()
        return f"charged {order}"

    def agent(script: list[Any]) -> Agent[str]:
        client = AsyncClient(api_key="sk-test", transport=ScriptedTransport(script))
        return Agent("claude-sonnet-4-5", tools=[charge], client=client, name="orders",
                     limits=Limits(timeout=1.0))

    with HostedRuns("cut").active(), pytest.raises(LimitExceeded) as cut:
        # the deadline passes while the call waits (the reply is scripted in memory: the
        # call starts well within the second)
        script = [reply(tool_calls=[("charge", {"order": 7})])]
        await agent(script).run(PROMPT)
    told = cut.value.messages[-1]["content"][0]
    assert told["content"].startswith("Not finished: the run hit its timeout limit")

    with HostedRuns("cut").active():  # the same agent, the same prompt: its rerun
        done = await agent([text_reply("It may have been charged.")]).run(PROMPT)
    assert done.text == "It may have been charged." and charged == [7]
    assert done.messages[2]["content"][0] == told


def lookup_then_charge(lookup: Any, charged: list[int], raise_errors: bool = False) -> Agent[str]:
    """An agent with `lookup` and a charge that notes its order in `charged`, whose model looks
    order 7 up, charges it, then answers; `raise_errors`: tool errors fail the run."""

    @tool
    async def charge(order: int) -> str:
        """Charge an order."""
        charged.append(order)
        return f"charged order {order}"

    def model(body: dict[str, Any]) -> Any:
        done = [b["tool_use_id"] for m in body["messages"] if isinstance(m["content"], list)
                for b in m["content"] if b.get("type") == "tool_result"]
        if not done:
            return reply(tool_calls=[("lookup", {"order": 7})])
        if len(done) == 1:
            return reply(tool_calls=[("charge", {"order": 7})])
        return text_reply("Charged.")

    client = AsyncClient(api_key="sk-test", transport=ScriptedTransport(FunctionModel(model)))
    return Agent("claude-sonnet-4-5", tools=[lookup, charge], client=client, name="orders",
                 tool_execution=ToolExecution(raise_errors=raise_errors))


@pytest.mark.asyncio
async def test_a_cancelled_hosted_run_stops_so_its_rerun_is_the_only_one_going_on(
    launched: str,
) -> None:
    # DBOS shields a workflow from its caller: a hosted run whose caller was cancelled (an
    # asyncio.timeout around it) went on in the background, and the rerun forked it while it
    # ran: two executions of one run, each asking the model and each charging.
    lookups: list[int] = []
    entered, both = anyio.Event(), anyio.Event()
    charged: list[int] = []

    @tool(idempotent=True)
    async def lookup(order: int) -> str:
        """Look an order up."""
        lookups.append(order)
        entered.set()
        if len(lookups) == 2:  # the rerun's: both executions would now go on
            both.set()
        await both.wait()
        return f"order {order} is open"

    agent = lookup_then_charge(lookup, charged)
    with HostedRuns("cancelled").active():
        async with anyio.create_task_group() as tg:
            tg.start_soon(agent.run, PROMPT)
            await entered.wait()
            tg.cancel_scope.cancel()
        done = await agent.run(PROMPT)  # the rerun
    assert done.text == "Charged."
    assert charged == [7]


@pytest.mark.asyncio
async def test_a_streamed_run_s_rerun_sends_the_replayed_turns_blocks_as_events(
    launched: str,
) -> None:
    # A streamed reply's text and calls reach the consumer as its deltas arrive; a replayed
    # one arrives whole from its step, and a streamed run sent none of its blocks: the rerun's
    # consumer got a ToolCallFinished with no ToolCallStarted, and none of that turn's text.
    from agentkit.events import AgentEvent, TextChunk, ToolCallFinished, ToolCallStarted

    script = [reply("Charging.", tool_calls=[("charge", {"order": 1})]), text_reply("Done.")]
    orders = Orders(script, tool_execution=ToolExecution(raise_errors=True), stream=True)
    orders.fail = True
    with pytest.raises(RunError):
        await orders.run("streamed")
    orders.fail = False
    events: list[AgentEvent] = []
    with HostedRuns("streamed").active():
        result = await orders.agent.run(PROMPT, on_event=events.append)
    assert result.text == "Done." and len(orders.transport.requests) == 2
    text = "".join(e.text for e in events if isinstance(e, TextChunk))
    assert text == "Charging.Done."
    started = [e.id for e in events if isinstance(e, ToolCallStarted)]
    finished = [e.id for e in events if isinstance(e, ToolCallFinished)]
    assert started == finished and len(started) == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("failing", ["tool", "hook"])
async def test_a_call_cut_by_a_failing_idempotent_sibling_is_told_so_on_rerun_not_interrupted(
    launched: str, failing: str,
) -> None:
    # An idempotent lookup raising under raise_errors (or its after_tool hook raising) ends
    # the run while the non-idempotent charge next to it runs: the run tells the charge "Not
    # finished: the run failed". Its rerun (the lookup fixed) must tell it the same, not
    # "interrupted" as if the process had stopped.
    entered = anyio.Event()
    broken: list[bool] = [True]
    charged: list[int] = []

    async def fail_once() -> None:
        if broken[0]:
            await entered.wait()  # the charge runs: the failure cuts it
            raise ValueError("the lookup service is down")

    @tool(idempotent=True)
    async def lookup(order: int) -> str:
        """Look an order up."""
        if failing == "tool":
            await fail_once()
        return f"order {order} is open"

    async def after_tool(ctx: RunContext[None], call: Any, block: Any) -> None:
        if call["name"] == "lookup" and failing == "hook":
            await fail_once()

    @tool
    async def charge(order: int) -> str:
        """Charge an order."""
        charged.append(order)
        entered.set()
        await anyio.Event().wait()  # cut by the run's end
        return f"charged order {order}"

    def agent(script: list[Any]) -> Agent[str]:
        client = AsyncClient(api_key="sk-test", transport=ScriptedTransport(script))
        return Agent("claude-sonnet-4-5", tools=[lookup, charge], client=client, name="orders",
                     tool_execution=ToolExecution(raise_errors=True),
                     hooks=Hooks(after_tool=after_tool))

    calls = [("lookup", {"order": 7}), ("charge", {"order": 7})]
    with HostedRuns(f"sibling-{failing}").active(), pytest.raises(RunError) as failed:
        await agent([reply(tool_calls=calls)]).run(PROMPT)
    told = failed.value.messages[-1]["content"][1]
    assert told["content"].startswith("Not finished: the run failed (ValueError)")

    broken[0] = False
    with HostedRuns(f"sibling-{failing}").active():
        done = await agent([text_reply("Charge unsure.")]).run(PROMPT)
    assert done.text == "Charge unsure." and charged == [7]
    assert done.messages[2]["content"][0]["content"] == "order 7 is open"
    assert done.messages[2]["content"][1] == told


@contextmanager
def launched_outside_a_loop(system_db: str) -> Iterator[None]:
    """DBOS launched outside any event loop, as a sync program does: it runs what its queue
    starts (a hosted run's rerun, a fork) on its own loop, in its own thread."""
    DBOS(config={"name": "agentkit-tests", "system_database_url": system_db,
                 "executor_id": "test-executor"})
    DBOS.launch()
    try:
        yield
    finally:
        DBOS.destroy(destroy_registry=False)


async def cancelled_once(agent: Agent[str], prefix: str, reached: threading.Event) -> None:
    """Run `agent` hosted under `prefix`, and cancel its caller once `reached` is set."""
    with HostedRuns(prefix).active():
        running = asyncio.create_task(agent.run(PROMPT))
    await asyncio.to_thread(reached.wait)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running


def test_a_cancelled_hosted_run_on_dbos_s_own_loop_stops_before_its_rerun(
    system_db: str,
) -> None:
    # DBOS launched outside an event loop (a sync program) runs a resumed hosted run (a fork,
    # which DBOS's queue starts) on its own loop, in its own thread: a caller cancelled in its
    # loop must cancel the execution there, and wait for it, or its rerun runs beside it.
    lookups: list[int] = []
    charged: list[int] = []
    broken: list[bool] = [True]
    entered, both = threading.Event(), threading.Event()
    homes: list[int] = []

    @tool(idempotent=True)
    async def lookup(order: int) -> str:
        """Look an order up."""
        lookups.append(order)
        homes.append(threading.get_ident())
        if broken[0]:
            raise ValueError("the lookup service is down")
        entered.set()
        if len(lookups) == 3:  # the rerun's: both executions would now go on
            both.set()
        await asyncio.to_thread(both.wait)
        return f"order {order} is open"

    agent = lookup_then_charge(lookup, charged, raise_errors=True)

    with launched_outside_a_loop(system_db):
        try:
            with HostedRuns("own-loop").active(), pytest.raises(RunError):
                agent.run_sync(PROMPT)  # started here: runs in the caller's loop
            broken[0] = False
            # Its rerun, a fork: runs on DBOS's loop, cancelled.
            asyncio.run(cancelled_once(agent, "own-loop", entered))
            with HostedRuns("own-loop").active():
                done = agent.run_sync(PROMPT)
        finally:
            both.set()
    assert homes[1] != threading.get_ident()  # the path under test: another thread's loop
    assert done.text == "Charged."
    assert charged == [7] and lookups == [7, 7, 7]


def test_a_hosted_run_on_dbos_s_own_loop_stopped_as_it_begins_never_runs(
    system_db: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # DBOS's thread took the run's live agent, and its caller, cancelled in its own thread
    # at that moment, found no execution to stop: the execution then went on in the
    # background, unseen by the rerun.
    import agentkit.dbos._hosted as hosted

    lookups: list[int] = []
    charged: list[int] = []
    broken: list[bool] = [True]
    at_gap, go = threading.Event(), threading.Event()
    stuck: list[str] = []

    class Gap:
        """`asyncio` as `_hosted` sees it: the execution of the rerun is held right after
        it took its live agent (where it asks for its task), until its caller stopped."""

        def __getattr__(self, name: str) -> Any:
            return getattr(asyncio, name)

        def current_task(self) -> Any:
            wid = DBOS.workflow_id or ""
            if wid.endswith("~2") and not stuck:
                stuck.append(wid)
                at_gap.set()
                go.wait()
            return asyncio.current_task()

    @tool(idempotent=True)
    async def lookup(order: int) -> str:
        """Look an order up."""
        lookups.append(order)
        if broken[0]:
            raise ValueError("the lookup service is down")
        return f"order {order} is open"

    agent = lookup_then_charge(lookup, charged, raise_errors=True)

    with launched_outside_a_loop(system_db):
        try:
            with HostedRuns("gap").active(), pytest.raises(RunError):
                agent.run_sync(PROMPT)
            broken[0] = False
            monkeypatch.setattr(hosted, "asyncio", Gap())
            asyncio.run(cancelled_once(agent, "gap", at_gap))  # as its execution begins
            go.set()
            raised: list[str] = []
            try:  # the execution's end
                DBOS.retrieve_workflow(stuck[0]).get_result()
            except RuntimeError as exc:
                raised.append(str(exc))
            assert lookups == [7] and charged == []  # it never ran
            assert "stopped by its caller before it began" in raised[0]
            monkeypatch.undo()
            with HostedRuns("gap").active():
                done = agent.run_sync(PROMPT)
        finally:
            go.set()
    assert done.text == "Charged."
    assert charged == [7] and lookups == [7, 7]
