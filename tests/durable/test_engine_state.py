"""Durable runs and the engine's own state: the seed of the back-off jitter, a model call being
retried when the process dies, a run that gave up on a model call, the deadline and the other
limits. A crash is simulated in-process as in `test_runs.py`: a `BaseException` the run does
not catch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
    RunState,
    SQLiteStore,
    tool,
)
from agentkit.testing import FakeClock, Fault, ScriptedTransport, reply, text_reply

MODEL = "claude-sonnet-4-5"
PROMPT = "Charge order 1"


class Crash(BaseException):
    """Stands for the process dying."""


class DyingClock(FakeClock):
    """A clock whose process dies in the first back-off it sleeps (after recording it)."""

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        raise Crash


def agent_for(transport: ScriptedTransport, tools: list[Any], **kwargs: Any) -> Agent[Any]:
    client = AsyncClient(api_key="sk-test", transport=transport, max_retries=0)
    return Agent(MODEL, tools=tools, client=client, **kwargs)


def charging(effects: list[str], clock: FakeClock | None = None, advance: float = 0) -> Any:
    @tool
    async def charge(ctx: RunContext[None], order: int) -> str:
        """Charge an order."""
        effects.append(f"charge {order}")
        if clock is not None:
            clock.advance(advance)
        return f"charged {order}"

    return charge


class Plan(BaseModel):
    steps: list[str]


def steps() -> list[Any]:
    return [reply(tool_calls=[("charge", {"order": 1}, "toolu_1")]), text_reply("All done.")]


@pytest.fixture
def store(tmp_path: Path) -> SQLiteStore:
    return SQLiteStore(tmp_path / "runs.db")


@pytest.mark.asyncio
async def test_a_resumed_run_keeps_its_seed_so_it_backs_off_as_the_first_process_did(
    store: SQLiteStore,
) -> None:
    effects: list[str] = []
    dying = DyingClock()
    with pytest.raises(Crash):
        await agent_for(
            ScriptedTransport([Fault.overloaded()]), [charging(effects)], clock=dying
        ).run(PROMPT, run_id="r1", store=store)
    clock = FakeClock()
    transport = ScriptedTransport([Fault.overloaded(), *steps()])
    result = await agent_for(transport, [charging(effects)], clock=clock).run(
        PROMPT, run_id="r1", store=store
    )
    assert result.text == "All done." and effects == ["charge 1"]
    assert clock.sleeps == dying.sleeps  # the same jitter: drawn from the stored seed
    assert result.state.seed == store.entries("r1")[0].payload["seed"]


@pytest.mark.asyncio
async def test_a_crash_during_a_retry_back_off_sends_only_the_call_in_flight_again(
    store: SQLiteStore,
) -> None:
    effects: list[str] = []
    first = ScriptedTransport([reply(tool_calls=[("charge", {"order": 1}, "toolu_1")]),
                               Fault.overloaded()])
    with pytest.raises(Crash):
        await agent_for(first, [charging(effects)], clock=DyingClock()).run(
            PROMPT, run_id="r1", store=store
        )
    transport = ScriptedTransport([text_reply("All done.")])
    # model_retries=0: the resumed call has its own whole budget (the failed attempt is gone).
    result = await agent_for(transport, [charging(effects)], model_retries=0).run(
        PROMPT, run_id="r1", store=store
    )
    assert result.text == "All done." and len(transport.requests) == 1
    assert effects == ["charge 1"] and result.usage.requests == 2


class DyingAt(FakeClock):
    """A clock whose process dies in its `n`th back-off."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if len(self.sleeps) == self.n:
            raise Crash


@pytest.mark.asyncio
async def test_a_call_retried_when_the_process_died_is_a_new_call_with_its_whole_budget(
    store: SQLiteStore,
) -> None:
    # The README: sent again on resume as a new call, its `before_model` hook running again,
    # with the whole `model_retries` budget; failed attempts leave nothing in the journal.
    asked: list[int] = []
    hooks = Hooks(before_model=lambda ctx, params: asked.append(ctx.turn))
    effects: list[str] = []
    first = ScriptedTransport([steps()[0], Fault.overloaded(), Fault.overloaded()])
    with pytest.raises(Crash):  # two attempts failed; died in the second back-off
        await agent_for(first, [charging(effects)], clock=DyingAt(2), hooks=hooks,
                        model_retries=2).run(PROMPT, run_id="r1", store=store)
    stored = [e.kind for e in store.entries("r1")]
    asked.clear()

    transport = ScriptedTransport([Fault.overloaded(), Fault.overloaded(), steps()[1]])
    result = await agent_for(transport, [charging(effects)], clock=FakeClock(), hooks=hooks,
                             model_retries=2).run(PROMPT, run_id="r1", store=store)
    assert result.text == "All done." and len(transport.requests) == 3  # two retries again
    assert asked == [1]  # the hook ran again for the call (once: retries reuse its request)
    assert effects == ["charge 1"] and result.usage.requests == 2
    assert stored == ["start", "reply", "tool_started", "tool_result", "status"]  # no attempt
    assert "529" not in str(result.messages)


@pytest.mark.asyncio
async def test_a_run_that_gave_up_on_a_model_call_is_stored_failed_and_resumes_with_that_call(
    store: SQLiteStore,
) -> None:
    effects: list[str] = []
    first = ScriptedTransport([steps()[0], Fault.overloaded()])
    with pytest.raises(RunError) as gave_up:
        await agent_for(first, [charging(effects)], model_retries=0).run(
            PROMPT, run_id="r1", store=store
        )
    assert "run_id='r1'" in str(gave_up.value)  # says how to resume this run, not state=
    header = store.header("r1")
    assert header is not None and header.status == "failed" and header.turns == 1
    last = store.entries("r1")[-1]
    assert last.kind == "status" and "HTTP 529" in str(last.payload["reason"])

    transport = ScriptedTransport([text_reply("All done.")])
    result = await agent_for(transport, [charging(effects)]).run(PROMPT, run_id="r1", store=store)
    assert result.text == "All done." and len(transport.requests) == 1
    assert effects == ["charge 1"]  # the tool round before the failure is not repeated
    assert store.header("r1").status == "finished"  # type: ignore[union-attr]


@pytest.mark.asyncio
async def test_the_timeout_counts_from_each_resume_and_a_timed_out_run_resumes_where_it_stopped(
    store: SQLiteStore,
) -> None:
    effects: list[str] = []
    clock = FakeClock()
    tools = [charging(effects, clock, advance=30)]  # the tool outlasts the 10 s timeout
    with pytest.raises(LimitExceeded) as hit:
        await agent_for(
            ScriptedTransport(steps()[:1]), tools, clock=clock, limits=Limits(timeout=10)
        ).run(PROMPT, run_id="r1", store=store)
    assert hit.value.limit == "timeout"
    header = store.header("r1")
    assert header is not None and header.status == "interrupted"  # not finished: resumable

    # The clock is at 30 s, past the first deadline: the resumed run has 10 s of its own.
    transport = ScriptedTransport(steps()[1:])
    result = await agent_for(transport, tools, clock=clock, limits=Limits(timeout=10)).run(
        PROMPT, run_id="r1", store=store
    )
    assert result.text == "All done." and len(transport.requests) == 1
    assert effects == ["charge 1"]
    assert store.header("r1").status == "finished"  # type: ignore[union-attr]


@pytest.mark.asyncio
async def test_a_run_stopped_by_a_limit_goes_on_only_when_the_limit_is_raised(
    store: SQLiteStore,
) -> None:
    # Limits are no part of the fingerprint: the same call raises the same `LimitExceeded`
    # (see test_runs.py); a call with the limit raised goes on from where the run stopped.
    effects: list[str] = []
    with pytest.raises(LimitExceeded):
        await agent_for(ScriptedTransport(steps()[:1]), [charging(effects)],
                        limits=Limits(max_turns=1)).run(PROMPT, run_id="r1", store=store)
    assert store.header("r1").status == "finished"  # type: ignore[union-attr]

    transport = ScriptedTransport(steps()[1:])
    result = await agent_for(transport, [charging(effects)], limits=Limits(max_turns=2)).run(
        PROMPT, run_id="r1", store=store
    )
    assert result.text == "All done." and len(transport.requests) == 1
    assert effects == ["charge 1"] and result.usage.requests == 2

    # Called again as at first, with the lower limit: the journal says how the run went on
    # (limits decide live steps, not what a replay reads), so the stored result comes back.
    again = await agent_for(ScriptedTransport([]), [charging(effects)],
                            limits=Limits(max_turns=1)).run(PROMPT, run_id="r1", store=store)
    assert again.text == "All done." and again.messages == result.messages
    assert effects == ["charge 1"]


@pytest.mark.asyncio
async def test_a_run_stopped_by_max_tool_calls_raises_it_again_and_runs_nothing(
    store: SQLiteStore,
) -> None:
    # The calls the limit refused were answered by the engine, which journals nothing: the
    # same call stops at the same place, without running them or calling the model.
    effects: list[str] = []
    with pytest.raises(LimitExceeded) as first:
        await agent_for(ScriptedTransport(steps()[:1]), [charging(effects)],
                        limits=Limits(max_tool_calls=0)).run(PROMPT, run_id="r1", store=store)
    with pytest.raises(LimitExceeded) as again:
        await agent_for(ScriptedTransport([]), [charging(effects)],
                        limits=Limits(max_tool_calls=0)).run(PROMPT, run_id="r1", store=store)
    assert first.value.limit == again.value.limit == "max_tool_calls"
    assert again.value.result is not None and first.value.result is not None
    assert again.value.result.messages == first.value.result.messages
    assert effects == []


@pytest.mark.asyncio
async def test_limits_count_the_whole_run_across_a_crash_and_a_raised_limit_runs_what_it_stopped(
    store: SQLiteStore,
) -> None:
    # The README: the turns, tool calls, tokens and cost journaled before a crash stay spent;
    # the calls max_tool_calls stopped (answered "Not run" in the LimitExceeded) run when the
    # call is made again with the limit raised.
    effects: list[str] = []

    def crash_at_the_second_request(ctx: RunContext[None], params: object) -> None:
        if ctx.turn == 1:
            raise Crash

    with pytest.raises(Crash):
        await agent_for(ScriptedTransport(steps()[:1]), [charging(effects)],
                        hooks=Hooks(before_model=crash_at_the_second_request)).run(
            PROMPT, run_id="r1", store=store)
    with pytest.raises(LimitExceeded) as spent:  # the turn made before the crash is spent
        await agent_for(ScriptedTransport([]), [charging(effects)],
                        limits=Limits(max_turns=1)).run(PROMPT, run_id="r1", store=store)
    assert spent.value.limit == "max_turns" and spent.value.usage.requests == 1
    assert spent.value.usage.tool_calls == 1 and effects == ["charge 1"]

    stopped = steps()
    with pytest.raises(LimitExceeded) as hit:
        await agent_for(ScriptedTransport(stopped[:1]), [charging(effects)],
                        limits=Limits(max_tool_calls=0)).run(PROMPT, run_id="r2", store=store)
    assert hit.value.result is not None
    assert hit.value.result.messages[-1]["content"][0]["content"].startswith("Not run")
    done = await agent_for(ScriptedTransport(stopped[1:]), [charging(effects)],
                           limits=Limits(max_tool_calls=1)).run(PROMPT, run_id="r2", store=store)
    assert done.text == "All done." and done.messages[2]["content"][0]["content"] == "charged 1"
    assert effects == ["charge 1", "charge 1"] and done.usage.requests == 2


@pytest.mark.asyncio
async def test_state_continuation_runs_what_max_tool_calls_stopped_as_a_durable_run_does() -> None:
    # A run stopped by max_tool_calls, given again as state= with the limit raised, was
    # refused ("this run has finished; pass a prompt"), and with a prompt its calls stayed
    # answered "Not run", where the same durable run runs them (the test above).
    effects: list[str] = []
    stopped = steps()
    with pytest.raises(LimitExceeded) as hit:
        await agent_for(ScriptedTransport(stopped[:1]), [charging(effects)],
                        limits=Limits(max_tool_calls=0)).run(PROMPT)
    assert hit.value.result is not None
    saved = RunState.from_dict(json.loads(json.dumps(hit.value.result.state.to_dict())))
    with pytest.raises(LimitExceeded) as same:  # the same limit: stopped again, nothing run
        await agent_for(ScriptedTransport([]), [charging(effects)],
                        limits=Limits(max_tool_calls=0)).run(state=saved)
    assert same.value.result is not None and effects == []
    assert same.value.result.messages == hit.value.result.messages
    raised = RunState.from_dict(json.loads(json.dumps(hit.value.result.state.to_dict())))
    done = await agent_for(ScriptedTransport(stopped[1:]), [charging(effects)],
                           limits=Limits(max_tool_calls=1)).run(state=raised)
    assert done.text == "All done." and done.messages[2]["content"][0]["content"] == "charged 1"
    assert effects == ["charge 1"] and done.usage.requests == 2


@pytest.mark.asyncio
@pytest.mark.parametrize("limit", ["max_turns", "timeout"])
async def test_state_continuation_goes_on_after_any_limit_as_a_durable_run_does(
    limit: str,
) -> None:
    # A run stopped by max_turns or its timeout, given again as state= with no prompt, was
    # refused ("this run has finished; pass a prompt"), where the same durable run goes on
    # with the limit raised (the timeout: afresh from the resume). The same limit stops it
    # again with nothing sent.
    effects: list[str] = []
    clock = FakeClock()
    tools = [charging(effects, clock, advance=30 if limit == "timeout" else 0)]
    tight, loose = (
        (Limits(max_turns=1), Limits(max_turns=2))
        if limit == "max_turns"
        else (Limits(timeout=10), Limits(timeout=10))
    )
    with pytest.raises(LimitExceeded) as hit:
        await agent_for(ScriptedTransport(steps()[:1]), tools, clock=clock, limits=tight).run(
            PROMPT
        )
    assert hit.value.limit == limit and hit.value.result is not None and effects == ["charge 1"]

    def saved() -> RunState:
        assert hit.value.result is not None
        return RunState.from_dict(json.loads(json.dumps(hit.value.result.state.to_dict())))

    if limit == "max_turns":
        sent = ScriptedTransport([])
        with pytest.raises(LimitExceeded) as same:
            await agent_for(sent, tools, clock=clock, limits=tight).run(state=saved())
        assert same.value.limit == limit and sent.requests == []
    done = await agent_for(ScriptedTransport(steps()[1:]), tools, clock=clock,
                           limits=loose).run(state=saved())
    assert done.text == "All done." and effects == ["charge 1"] and done.usage.requests == 2


@pytest.mark.asyncio
async def test_a_run_stop_when_ended_on_a_flag_is_read_back_and_goes_on_once_it_is_cleared(
    store: SQLiteStore,
) -> None:
    # stop_when reading a flag (a user's "stop" button) set while the second call ran: the
    # replay asked it at every step, so the same call ended the replay at the first turn and
    # refused the finished run's journal ("does not fit this agent"). Like a limit, it now
    # decides live steps only: the stored run comes back while it holds, and goes on after.
    stop = [False]
    effects: list[str] = []

    @tool(idempotent=True)
    async def step(ctx: RunContext[None], n: int) -> str:
        """Take a step."""
        effects.append(f"step {n}")
        stop[0] = stop[0] or n == 2
        return f"did {n}"

    def agent(script: list[Any]) -> Agent[Any]:
        return agent_for(ScriptedTransport(script), [step], stop_when=lambda state: stop[0])

    script = [reply(tool_calls=[("step", {"n": n}, f"toolu_{n}")]) for n in (1, 2)]
    first = await agent(script).run(PROMPT, run_id="r1", store=store)
    assert first.stop_reason == "stop_condition" and first.usage.requests == 2

    again = await agent([]).run(PROMPT, run_id="r1", store=store)
    assert again.stop_reason == "stop_condition" and again.messages == first.messages
    assert store.header("r1").status == "finished"  # type: ignore[union-attr]

    stop[0] = False
    went_on = await agent([text_reply("All done.")]).run(PROMPT, run_id="r1", store=store)
    assert went_on.text == "All done." and went_on.usage.requests == 3
    assert effects == ["step 1", "step 2"]


@pytest.mark.asyncio
@pytest.mark.parametrize("durable", [False, True])
async def test_a_run_stop_when_ended_goes_on_given_again_once_it_no_longer_holds(
    store: SQLiteStore, durable: bool
) -> None:
    # A run stop_when ended, given again as state= with no prompt, was refused ("this run has
    # finished; pass a prompt"), where the same durable run given again goes on once the
    # condition no longer holds. Both now agree: stopped again with nothing sent while it
    # holds, on where it stopped once it does not.
    stop = [True]
    effects: list[str] = []

    def agent(transport: ScriptedTransport) -> Agent[Any]:
        return agent_for(transport, [charging(effects)], stop_when=lambda state: stop[0])

    def again(transport: ScriptedTransport, state: RunState) -> Any:
        if durable:
            return agent(transport).run(PROMPT, run_id="r1", store=store)
        return agent(transport).run(state=RunState.from_dict(json.loads(json.dumps(
            state.to_dict()))))

    first = await (agent(ScriptedTransport(steps()[:1])).run(PROMPT, run_id="r1", store=store)
                   if durable else agent(ScriptedTransport(steps()[:1])).run(PROMPT))
    assert first.stop_reason == "stop_condition" and effects == ["charge 1"]

    sent = ScriptedTransport([])
    held = await again(sent, first.state)
    assert held.stop_reason == "stop_condition" and sent.requests == []
    assert held.messages == first.messages

    stop[0] = False
    done = await again(ScriptedTransport(steps()[1:]), held.state)
    assert done.text == "All done." and done.stop_reason == "end_turn"
    assert effects == ["charge 1"] and done.usage.requests == 2


@pytest.mark.asyncio
async def test_a_stored_run_reports_no_event_for_calls_the_replay_answered(
    store: SQLiteStore,
) -> None:
    # The output tool's call is answered by the engine itself, on the first run and again in
    # the replay: only the first run reports it.
    script = [reply(tool_calls=[("final_result", {"steps": ["a"]}, "toolu_9")])]
    events: list[Any] = []
    first = Agent(
        MODEL, output_type=Plan,
        client=AsyncClient(api_key="sk", transport=ScriptedTransport(script), max_retries=0),
    )
    await first.run("Plan it", run_id="p", store=store, on_event=events.append)
    assert [type(e).__name__ for e in events].count("ToolCallFinished") == 1
    events.clear()
    again = Agent(
        MODEL, output_type=Plan,
        client=AsyncClient(api_key="sk", transport=ScriptedTransport([]), max_retries=0),
    )
    result = await again.run("Plan it", run_id="p", store=store, on_event=events.append)
    assert result.output == Plan(steps=["a"])
    assert [type(e).__name__ for e in events] == ["RunFinished"]
