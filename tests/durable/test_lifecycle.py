"""A durable run's lifecycle as a user meets it: how a call ends when its event consumer fails,
is cancelled or leaves early, or its store is closed under it, what is stored then, and what
the same call gives afterwards."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

from agentkit import (
    Agent,
    AsyncClient,
    Hooks,
    LimitExceeded,
    Limits,
    RunContext,
    RunError,
    SQLiteStore,
    tool,
)
from agentkit.events import AgentEvent, RunFinished, ToolCallStarted
from agentkit.testing import (
    FakeServer,
    Fault,
    FunctionModel,
    ScriptedTransport,
    reply,
    text_reply,
    tool_reply,
    tool_results,
)

MODEL = "claude-sonnet-4-5"


@tool
async def charge(ctx: RunContext[None], order: int) -> str:
    """Charge an order."""
    return f"charged {order}"


def agent_for(transport: ScriptedTransport) -> Agent[str]:
    return Agent(MODEL, client=AsyncClient(api_key="sk", transport=transport, max_retries=0))


@pytest.mark.asyncio
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_a_callback_failing_on_run_finished_fails_the_run_as_run_error(
    tmp_path: Path, is_async: bool
) -> None:
    # The README: an exception the callback raises fails the run as `RunError`; on the last
    # event it escaped bare, unlike on every other event.
    def fail(event: AgentEvent) -> None:
        if isinstance(event, RunFinished):
            raise ValueError("the display broke")

    async def fail_async(event: AgentEvent) -> None:
        fail(event)

    on_event = fail_async if is_async else fail
    with pytest.raises(RunError, match="the display broke") as plain:
        await agent_for(ScriptedTransport([text_reply("Done.")])).run("Go", on_event=on_event)
    assert isinstance(plain.value.__cause__, ValueError)

    store = SQLiteStore(tmp_path / "runs.db")
    with pytest.raises(RunError, match=r"the same call returns it \(run_id='r'\)") as durable:
        await agent_for(ScriptedTransport([text_reply("Done.")])).run(
            "Go", run_id="r", store=store, on_event=on_event
        )
    assert isinstance(durable.value.__cause__, ValueError)
    assert durable.value.result is not None and durable.value.result.stop_reason == "end_turn"
    assert store.header("r").status == "finished"  # type: ignore[union-attr]
    again = await agent_for(ScriptedTransport([])).run("Go", run_id="r", store=store)
    assert again.text == "Done." and again.usage.requests == 1
    assert store.header("r").status == "finished"  # type: ignore[union-attr]


@pytest.mark.asyncio
@pytest.mark.parametrize("ended", ["finished", "paused", "max_turns"])
@pytest.mark.parametrize("consumer", ["failing", "cancelled"])
async def test_a_consumer_stopping_on_run_finished_of_a_live_run_stores_how_it_ended(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], consumer: str, ended: str
) -> None:
    # The run ended (its journal complete) and only its consumer failed or was cancelled on
    # the last event: it was stored failed or interrupted (`runs list` said so) until the next
    # call set it back. The consumer's exception still reaches the caller.
    from agentkit import Limits
    from agentkit.cli.main import main

    delivering, never = anyio.Event(), anyio.Event()

    async def on_event(event: AgentEvent) -> None:
        if isinstance(event, RunFinished):
            if consumer == "failing":
                raise ValueError("the display broke")
            delivering.set()
            await never.wait()

    db = tmp_path / "runs.db"
    store = SQLiteStore(db)
    tools = [charge.replace(requires_approval=True)] if ended == "paused" else [charge]
    script = [text_reply("Done.")] if ended == "finished" else [tool_reply("charge", {"order": 1})]
    limits = Limits(max_turns=1) if ended == "max_turns" else None
    agent = Agent(MODEL, tools=tools, limits=limits, client=AsyncClient(
        api_key="sk", transport=ScriptedTransport(script)))
    run = lambda: agent.run("Go", run_id="r", store=store, on_event=on_event)  # noqa: E731
    if consumer == "failing":
        with pytest.raises(RunError, match="failed on RunFinished: ValueError") as failed:
            await run()
        assert isinstance(failed.value.__cause__, ValueError)
    else:
        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            await delivering.wait()
            tg.cancel_scope.cancel()
    status = "paused" if ended == "paused" else "finished"
    header = store.header("r")
    assert header is not None and header.status == status
    last = store.entries("r")[-1]
    reason = {"finished": "end_turn", "paused": "approval_required"}.get(ended, ended)
    assert last.kind == "status" and last.payload["reason"] == reason
    assert main(["runs", "list", "--db", str(db)]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert [row[1] for row in rows if row and row[0] == "r"] == [status]


@pytest.mark.asyncio
@pytest.mark.parametrize("consumer", ["failing", "cancelled"])
async def test_a_consumer_stopping_on_a_whole_reply_s_blocks_keeps_the_reply(
    tmp_path: Path, consumer: str
) -> None:
    # A reply read whole (no stream) had its blocks sent as events before it was recorded: a
    # consumer failing on one (a closed websocket) or cancelled there lost a reply received
    # and paid for. The run's usage and the store lacked it, and a resume asked for another.
    delivering, never = anyio.Event(), anyio.Event()

    async def on_event(event: AgentEvent) -> None:
        if isinstance(event, ToolCallStarted):
            if consumer == "failing":
                raise ConnectionError("the client went away")
            delivering.set()
            await never.wait()

    store = SQLiteStore(tmp_path / "runs.db")
    first = Agent(MODEL, tools=[charge], client=AsyncClient(api_key="sk", transport=(
        ScriptedTransport([reply("Charging.", tool_calls=[("charge", {"order": 1}, "toolu_1")])])
    )))
    if consumer == "failing":
        with pytest.raises(RunError, match="the client went away") as failed:
            await first.run("Go", run_id="r", store=store, on_event=on_event)
        assert failed.value.usage.requests == 1
    else:
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: first.run("Go", run_id="r", store=store, on_event=on_event))
            await delivering.wait()
            tg.cancel_scope.cancel()
    header = store.header("r")
    assert header is not None and header.turns == 1 and header.input_tokens > 0

    transport = ScriptedTransport([text_reply("Charged.")])
    again = await Agent(MODEL, tools=[charge], client=AsyncClient(
        api_key="sk", transport=transport)).run("Go", run_id="r", store=store)
    assert again.text == "Charged." and again.usage.requests == 2
    assert len(transport.requests) == 1  # the stored reply was not asked for again
    assert again.messages[2]["content"][0]["content"] == "charged 1"  # its call ran, once


async def stored_run(tmp_path: Path, ended: str) -> tuple[SQLiteStore, Agent[str]]:
    """A store holding run "r", finished or paused (awaiting a decision on a charge), and the
    agent that ran it (its model answers nothing more)."""
    store = SQLiteStore(tmp_path / "runs.db")
    if ended == "paused":
        script = [tool_reply("charge", {"order": 1})]
        tools = [charge.replace(requires_approval=True)]
    else:
        script, tools = [text_reply("Done.")], []
    agent = Agent(MODEL, tools=tools, client=AsyncClient(
        api_key="sk", transport=ScriptedTransport(script)))
    await agent.run("Go", run_id="r", store=store)
    return store, agent


@pytest.mark.asyncio
@pytest.mark.parametrize("ended", ["finished", "paused"])
async def test_a_re_call_that_changes_nothing_leaves_a_finished_or_paused_run_as_stored(
    tmp_path: Path, ended: str
) -> None:
    # A finished run re-called (or a paused one, without decisions) runs nothing; a consumer
    # cancelled while it takes the result (a request that timed out) or failing on it must not
    # store the run as interrupted or failed: its journal is as it was, and so is its status.
    store, agent = await stored_run(tmp_path, ended)
    stored = store.entries("r")
    delivering, never = anyio.Event(), anyio.Event()

    async def hang(event: AgentEvent) -> None:
        if isinstance(event, RunFinished):
            delivering.set()
            await never.wait()

    def fail(event: AgentEvent) -> None:
        raise ValueError("the display broke")

    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: agent.run("Go", run_id="r", store=store, on_event=hang))
        await delivering.wait()
        tg.cancel_scope.cancel()
    with pytest.raises(RunError, match="the display broke"):
        await agent.run("Go", run_id="r", store=store, on_event=fail)
    assert store.entries("r") == stored
    assert store.header("r").status == ended  # type: ignore[union-attr]


@pytest.mark.asyncio
@pytest.mark.parametrize("ended", ["finished", "paused"])
async def test_leaving_iter_at_once_on_a_stored_run_raises_nothing_and_keeps_it(
    tmp_path: Path, ended: str
) -> None:
    # `async with agent.iter(run_id=...) as run:` left before reading an event: a stored run
    # that has nothing left to do sent its last event into a stream already closed, and the
    # block raised (BrokenResourceError) instead of ending quietly as leaving it early does.
    store, agent = await stored_run(tmp_path, ended)
    stored = store.entries("r")
    async with agent.iter(run_id="r", store=store):
        pass
    assert store.entries("r") == stored
    assert store.header("r").status == ended  # type: ignore[union-attr]


@pytest.mark.asyncio
async def test_leaving_iter_on_run_finished_keeps_the_result_of_a_run_with_its_own_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `async for event in run: ... break` on `RunFinished`: a durable run makes its own client
    # (an agent without `client=`), which it closes after that event; leaving the block
    # cancelled the run there, so `run.result` stayed None (and the close was cut short),
    # though the run had finished and was stored so.
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-env")
    store = SQLiteStore(tmp_path / "runs.db")
    with FakeServer([text_reply("Done.")]) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        async with Agent(MODEL, store=store).iter("Go", run_id="r") as run:
            async for event in run:
                if isinstance(event, RunFinished):
                    break
    assert run.result is not None and run.result.text == "Done."
    assert store.header("r").status == "finished"  # type: ignore[union-attr]


@pytest.mark.asyncio
async def test_a_run_cancelled_in_a_tool_is_stored_interrupted_and_resumes_where_it_stopped(
    tmp_path: Path,
) -> None:
    # The README: "a run that failed, hit its timeout or was cancelled resumes where it
    # stopped": the reply that asked for the tool is not asked for again.
    entered, never = anyio.Event(), anyio.Event()
    runs: list[str | None] = []

    @tool(idempotent=True)
    async def lookup(ctx: RunContext[None], key: str) -> str:
        """Look a value up."""
        runs.append(ctx.idempotency_key)
        if len(runs) == 1:
            entered.set()
            await never.wait()
        return f"value-{key}"

    def agent(script: list[Any]) -> Agent[str]:
        client = AsyncClient(api_key="sk", transport=ScriptedTransport(script), max_retries=0)
        return Agent(MODEL, tools=[lookup], client=client)

    store = SQLiteStore(tmp_path / "runs.db")
    first = agent([reply(tool_calls=[("lookup", {"key": "a"}, "toolu_1")])])
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: first.run("Look a up", run_id="r", store=store))
        await entered.wait()
        tg.cancel_scope.cancel()
    assert store.header("r").status == "interrupted"  # type: ignore[union-attr]
    # Said plainly (agentkit runs show, the viewer): the cancellation's own message named
    # anyio's cancel scope and the task that cancelled it by their reprs and addresses.
    assert store.entries("r")[-1].payload == {"status": "interrupted", "reason": "cancelled"}

    done = await agent([text_reply("a is value-a.")]).run("Look a up", run_id="r", store=store)
    assert done.text == "a is value-a." and done.usage.requests == 2
    assert runs == ["r:toolu_1", "r:toolu_1"]  # idempotent: run again, with the same key
    assert store.header("r").status == "finished"  # type: ignore[union-attr]


@pytest.mark.asyncio
async def test_a_store_closed_under_runs_in_flight_stops_them_clearly_and_they_resume(
    tmp_path: Path,
) -> None:
    # Several runs on one loop share one store; another thread closes it while each is inside
    # a non-idempotent call. Each stops saying the store is closed, nothing stored is damaged,
    # and from a new store each resumes: the call that lost its result is answered as
    # interrupted, never run again.
    runs, entered, go = 4, anyio.Event(), anyio.Event()
    ran: list[str] = []

    @tool
    async def pay(ctx: RunContext[None]) -> str:
        """Pay (a side effect)."""
        ran.append(ctx.run_id or "")
        if len(ran) == runs:
            entered.set()
        await go.wait()
        return "paid"

    def model(body: dict[str, Any]) -> Any:
        results = tool_results(body)
        if not results:
            return tool_reply("pay", {})
        return text_reply(str(results[0]["content"])[:12])

    def agent() -> Agent[str]:
        transport = ScriptedTransport(FunctionModel(model))
        client = AsyncClient(api_key="sk", transport=transport, max_retries=0)
        return Agent(MODEL, tools=[pay], client=client)

    path, first = tmp_path / "runs.db", agent()
    store = SQLiteStore(path)
    failures: list[BaseException] = []

    async def run(run_id: str) -> None:
        with pytest.raises(RunError) as caught:
            await first.run("Pay", run_id=run_id, store=store)
        failures.append(caught.value)

    async with anyio.create_task_group() as tg:
        for n in range(runs):
            tg.start_soon(run, f"r{n}")
        await entered.wait()
        await anyio.to_thread.run_sync(store.close)
        go.set()
    assert all(f"the run store {path} is closed" in str(exc) and "open it again" in str(exc)
               for exc in failures), failures
    with SQLiteStore(path) as again:
        resumed = [await agent().run("Pay", run_id=f"r{n}", store=again) for n in range(runs)]
        assert [r.text for r in resumed] == ["Interrupted:"] * runs
        for n in range(runs):
            header, entries = again.header(f"r{n}"), again.entries(f"r{n}")
            assert header is not None and header.status == "finished" and header.holder is None
            assert header.entries == len(entries) == entries[-1].seq
    assert sorted(ran) == [f"r{n}" for n in range(runs)]  # each call ran once


@pytest.mark.asyncio
@pytest.mark.parametrize("fault", ["refused", "refused-mid-stream", "overloaded"])
async def test_a_run_the_api_refused_is_not_told_to_resume_with_the_same_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fault: str
) -> None:
    # A permanent 400 (a tool result the API refuses) was told "resume it with the same call",
    # in the RunError, the stored reason and `agentkit runs show`: a resume sends the same
    # request and fails the same way every time; so was the same refusal as a stream's `error`
    # event. A transient failure keeps that advice.
    from agentkit.cli.main import main
    from agentkit.testing import Fault

    refused = "messages.2.content.0.tool_result: image media_type is not supported"
    stream = fault == "refused-mid-stream"
    error = (
        Fault.stream_error(after=0, error_type="invalid_request_error", message=refused)
        if stream
        else Fault.error(400, error_type="invalid_request_error", message=refused)
        if fault == "refused"
        else Fault.overloaded()
    )
    db = tmp_path / "runs.db"
    store = SQLiteStore(db)

    def agent(script: list[Any]) -> Agent[str]:
        client = AsyncClient(api_key="sk", transport=ScriptedTransport(script), max_retries=0)
        return Agent(MODEL, model_retries=0, client=client, stream=stream)

    with pytest.raises(RunError) as durable:
        await agent([error]).run("Go", run_id="r", store=store)
    with pytest.raises(RunError) as memory:
        await agent([error]).run("Go")
    reason = store.entries("r")[-1].payload["reason"]
    assert main(["runs", "show", "r", "--db", str(db)]) == 0
    shown = "".join(capsys.readouterr())
    if fault == "overloaded":
        assert "resume it with the same call (run_id='r')." in str(durable.value)
        assert "resume with agent.run(state=...)." in str(memory.value)
        assert "API refused" not in reason + shown
        assert "resume it with the same call" in reason and "resume it with the same" in shown
        return
    for said in (str(durable.value), reason, shown):
        assert refused in said and "resume it with the same call" not in said
        assert "the API refused the request, and a resume (the same call, run_id='r') sends " \
               "it again: it fails the same way unless its cause changed" in " ".join(said.split())
        assert "start anew with history= or delete the run" in " ".join(said.split())
    assert "a resume (agent.run(state=...)) sends it again" in str(memory.value)
    assert "continue from a corrected history=" in str(memory.value)


@pytest.mark.asyncio
async def test_a_setup_error_a_later_turn_meets_is_stored_failed_and_resumes_once_fixed(
    tmp_path: Path,
) -> None:
    # A prepare hook's bad return on turn 1 raised a bare UsageError: the caller lost the
    # conversation. Stored failed, the run resumes with the fixed agent from where it stopped:
    # the charge is not made again, turn 0 is not asked again.
    charged: list[int] = []

    @tool
    async def charge_once(ctx: RunContext[None], order: int) -> str:
        """Charge an order."""
        charged.append(order)
        return f"charged {order}"

    def broken(ctx: RunContext[None], t: Any) -> Any:
        return t if ctx.turn == 0 else True

    def agent(script: list[Any], prepare: Any = None) -> Agent[str]:
        client = AsyncClient(api_key="sk", transport=ScriptedTransport(script), max_retries=0)
        return Agent(MODEL, tools=[charge_once.replace(prepare=prepare)], client=client)

    store = SQLiteStore(tmp_path / "runs.db")
    first = agent([tool_reply("charge_once", {"order": 7})], prepare=broken)
    with pytest.raises(RunError, match=r"resume it with the same call \(run_id='r'\)") as caught:
        await first.run("Charge 7", run_id="r", store=store)
    assert "returned True for tool `charge_once`" in str(caught.value)
    assert len(caught.value.messages) == 3 and charged == [7]
    header = store.header("r")
    assert header is not None and header.status == "failed" and header.turns == 1

    done = await agent([text_reply("Charged.")]).run("Charge 7", run_id="r", store=store)
    assert done.text == "Charged." and done.usage.requests == 2 and charged == [7]
    assert store.header("r").status == "finished"  # type: ignore[union-attr]


@pytest.mark.asyncio
@pytest.mark.parametrize("by", ["caller", "timeout"])
async def test_a_non_idempotent_call_a_cancellation_cut_is_told_so_on_resume(
    tmp_path: Path, by: str
) -> None:
    # In memory the cut call is answered "the run was cancelled"; the journal held only its
    # started mark, so the resume told the model "the process running this tool call
    # stopped", which it did not. The answer is journaled as the run gave it.
    entered, never = anyio.Event(), anyio.Event()
    charged: list[int] = []

    @tool
    async def charge_slowly(ctx: RunContext[None], order: int) -> str:
        """Charge an order."""
        charged.append(order)
        entered.set()
        await never.wait()
        return f"charged {order}"

    def agent(script: list[Any], limits: Limits | None = None) -> Agent[str]:
        client = AsyncClient(api_key="sk", transport=ScriptedTransport(script), max_retries=0)
        return Agent(MODEL, tools=[charge_slowly], client=client, limits=limits)

    store = SQLiteStore(tmp_path / "runs.db")
    script = [reply(tool_calls=[("charge_slowly", {"order": 7}, "toolu_1")])]
    if by == "timeout":  # the deadline passes while the call waits (the model's reply is
        # scripted in memory: the call starts well within the second)
        with pytest.raises(LimitExceeded):
            await agent(script, Limits(timeout=1.0)).run("Charge 7", run_id="r", store=store)
        why = "the run hit its timeout limit"
    else:
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: agent(script).run("Charge 7", run_id="r", store=store))
            await entered.wait()
            tg.cancel_scope.cancel()
        why = "the run was cancelled"

    second = agent([text_reply("It may have been charged.")])
    done = await second.run("Charge 7", run_id="r", store=store)
    assert done.text == "It may have been charged." and charged == [7]
    told = done.messages[2]["content"][0]
    assert told["tool_use_id"] == "toolu_1" and told["is_error"] is True
    assert told["content"].startswith(f"Not finished: {why} before this call finished")


@pytest.mark.asyncio
@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
async def test_a_failing_run_s_iter_consumer_gets_every_event_before_the_error(
    tmp_path: Path, stream: bool
) -> None:
    # A consumer slower than the run (one that awaits something per event) was cancelled by
    # the run's failure with the events it had not read yet dropped: here the charge's
    # `ToolCallFinished`. The charge is journaled, so the resume never reports it again: the
    # consumer never learned that it happened.
    failing = anyio.Event()

    def refuse_second_request(ctx: RunContext[None], params: object) -> None:
        if ctx.turn == 1:
            failing.set()
            raise ValueError("no second request")

    def agent(*script: Any, hooks: Hooks | None = None) -> Agent[str]:
        client = AsyncClient(api_key="sk", transport=ScriptedTransport(list(script)),
                             max_retries=0)
        return Agent(MODEL, tools=[charge], client=client, stream=stream, hooks=hooks or Hooks())

    charging = reply(tool_calls=[("charge", {"order": 7}, "toolu_1")])
    refusing = Hooks(before_model=refuse_second_request)
    store = SQLiteStore(tmp_path / "runs.db")
    seen: list[str] = []
    with pytest.raises(RunError, match="no second request") as raised:
        async with agent(charging, hooks=refusing).iter(
            "Charge order 7", run_id="r", store=store
        ) as run:
            async for event in run:
                seen.append(type(event).__name__)
                await failing.wait()  # the display is slower than the run
    assert seen[-2:] == ["TurnFinished", "ToolCallFinished"]
    assert isinstance(raised.value.__cause__, ValueError)
    stored = store.entries("r")[-1].payload
    assert stored["status"] == "failed" and "no second request" in str(stored["reason"])

    # Leaving the block before the end still raises the run's error, as it always did.
    failing = anyio.Event()
    with pytest.raises(RunError, match="no second request"):
        async with agent(charging, hooks=refusing).iter(
            "Charge order 7", run_id="r2", store=store
        ) as run:
            async for _ in run:
                await failing.wait()
                break

    # The resume goes on after the charge, which it reports no more.
    resumed: list[str] = []
    async with agent(text_reply("Charged.")).iter("Charge order 7", run_id="r", store=store) as run:
        async for event in run:
            resumed.append(type(event).__name__)
    assert "ToolCallFinished" not in resumed and run.result is not None
    assert run.result.text == "Charged."


@pytest.mark.asyncio
@pytest.mark.parametrize("run", ["new", "stored"])
async def test_asyncio_cancelling_a_run_while_its_claim_commits_leaves_it_free(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run: str
) -> None:
    # At FULL the claim commits in a worker thread under a shield, but asyncio's own
    # cancellation (`task.cancel()`, `asyncio.timeout`, a web server's request task whose
    # client left) goes through anyio's shield: the claim finished in its thread with nobody
    # to release it, and every later call of that run in this process (and in any other)
    # raised RunLockedError ("being run by this process") until the store was closed.
    store = SQLiteStore(tmp_path / "runs.db", synchronous="FULL")
    if run == "stored":  # a run that failed, for a resume to claim
        with pytest.raises(RunError):
            await agent_for(ScriptedTransport([Fault.error(400, message="refused")])).run(
                "Go", run_id="r", store=store
            )
    entered, go_on = threading.Event(), threading.Event()
    claim = store.claim

    def slow_claim(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        go_on.wait()
        return claim(*args, **kwargs)

    monkeypatch.setattr(store, "claim", slow_claim)
    task = asyncio.ensure_future(
        agent_for(ScriptedTransport([])).run("Go", run_id="r", store=store)
    )
    await anyio.to_thread.run_sync(entered.wait)
    task.cancel()  # asyncio's own cancellation, while the claim commits
    go_on.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    monkeypatch.setattr(store, "claim", claim)

    result = await agent_for(ScriptedTransport([text_reply("Done.")])).run(
        "Go", run_id="r", store=store
    )
    assert result.text == "Done."
    assert store.header("r").status == "finished"  # type: ignore[union-attr]
    store.close()


@pytest.mark.asyncio
async def test_asyncio_cancelling_a_run_before_its_claim_s_thread_began_claims_nothing(
    tmp_path: Path,
) -> None:
    # The other side of the test above: cancelled while it waits for a worker thread, the
    # claim never begins, so there is nothing to wait for or give back (waiting for it would
    # hang the cancelled call).
    store = SQLiteStore(tmp_path / "runs.db", synchronous="FULL")
    anyio.to_thread.current_default_thread_limiter().total_tokens = 1
    busy, free = threading.Event(), threading.Event()

    def hold_the_thread() -> None:
        busy.set()
        free.wait()

    holder = asyncio.ensure_future(anyio.to_thread.run_sync(hold_the_thread))
    await anyio.to_thread.run_sync(busy.wait, limiter=anyio.CapacityLimiter(1))
    task = asyncio.ensure_future(
        agent_for(ScriptedTransport([])).run("Go", run_id="r", store=store)
    )
    await anyio.wait_all_tasks_blocked()  # the run waits for the thread
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    free.set()
    await holder
    assert store.header("r") is None  # not claimed, nothing stored
    result = await agent_for(ScriptedTransport([text_reply("Done.")])).run(
        "Go", run_id="r", store=store
    )
    assert result.text == "Done."
    store.close()
