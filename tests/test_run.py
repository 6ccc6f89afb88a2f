"""`Agent` end to end over `agentkit.testing` fakes, both as JSON and as SSE."""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator
from typing import Any, cast

import anyio
import pytest
import pytest_asyncio
from harness import MODEL, Harnesses, delete_file, get_weather
from pydantic import BaseModel

from agentkit import (
    Agent,
    AsyncClient,
    Deny,
    Hooks,
    LimitExceeded,
    Limits,
    ModelSettings,
    RunContext,
    RunError,
    RunState,
    TextChunk,
    ToolCallFinished,
    ToolCallStarted,
    ToolExecution,
    TurnFinished,
    UsageError,
    tool,
    validate_conversation,
)
from agentkit.testing import FakeClock, Fault, ScriptedTransport, reply, text_reply, tool_reply


@pytest.fixture(params=[False, True], ids=["json", "sse"])
def stream(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest_asyncio.fixture
async def make(stream: bool) -> AsyncIterator[Harnesses]:
    harnesses = Harnesses(stream)
    yield harnesses
    await harnesses.aclose()


@pytest.mark.asyncio
async def test_a_tool_loop_ends_with_the_answer_and_a_valid_conversation(make: Any) -> None:
    h = make(tool_reply("get_weather", {"city": "Paris"}), text_reply("It is sunny."))
    result = await h.agent().run("Weather in Paris?")
    assert result.text == "It is sunny." and result.stop_reason == "end_turn"
    assert result.usage.requests == 2 and result.usage.tool_calls == 1
    assert [m["role"] for m in result.messages] == ["user", "assistant", "user", "assistant"]
    assert result.messages[2]["content"][0]["content"] == "Sunny in Paris"
    validate_conversation(result.messages)
    json.dumps(result.messages)  # wire form, JSON-ready
    h.transport.assert_consumed()


@pytest.mark.asyncio
async def test_thinking_signatures_survive_several_tool_rounds_byte_for_byte(make: Any) -> None:
    h = make(
        reply(thinking="Plan: check Paris.", tool_calls=[("get_weather", {"city": "Paris"})]),
        reply(thinking="Now Oslo.", tool_calls=[("get_weather", {"city": "Oslo"})]),
        reply("Both sunny.", thinking="Done."),
    )
    result = await h.agent(thinking=2048, max_tokens=4096).run("Paris and Oslo?")
    assert result.text == "Both sunny."
    third = h.bodies[2]
    assert third["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    sent = [m["content"][0] for m in third["messages"] if m["role"] == "assistant"]
    got = [m["content"][0] for m in result.messages if m["role"] == "assistant"][:2]
    assert [b["type"] for b in sent] == ["thinking", "thinking"]
    assert json.dumps(sent) == json.dumps(got)
    assert all(b["signature"] for b in sent)


@pytest.mark.asyncio
async def test_parallel_calls_run_concurrently_and_answer_in_one_turn(make: Any) -> None:
    arrived = {"a": anyio.Event(), "b": anyio.Event()}

    @tool
    async def meet(name: str, other: str) -> str:
        """Wait until the other call has started too.

        Args:
            name: This call's name.
            other: The other call's name.
        """
        arrived[name].set()
        with anyio.fail_after(2):  # run one by one, this would never return
            await arrived[other].wait()
        return f"{name} met {other}"

    h = make(
        reply(
            tool_calls=[
                ("meet", {"name": "a", "other": "b"}),
                ("meet", {"name": "b", "other": "a"}),
            ]
        ),
        text_reply("ok"),
    )
    result = await h.agent(tools=[meet]).run("go")
    results = h.bodies[1]["messages"][-1]["content"]
    assert [r["content"] for r in results] == ["a met b", "b met a"]
    assert result.usage.tool_calls == 2


@pytest.mark.asyncio
async def test_sequential_tools_never_overlap(make: Any) -> None:
    running: list[str] = []
    overlaps: list[tuple[str, ...]] = []

    @tool(sequential=True)
    async def write(key: str) -> str:
        """Write a key.

        Args:
            key: The key.
        """
        running.append(key)
        overlaps.append(tuple(running))
        await anyio.sleep(0.01)
        running.remove(key)
        return key

    h = make(reply(tool_calls=[("write", {"key": "x"}), ("write", {"key": "y"})]), text_reply("ok"))
    await h.agent(tools=[write]).run("go")
    assert overlaps == [("x",), ("y",)]


@pytest.mark.asyncio
@pytest.mark.parametrize(("limit", "peak"), [(2, 2), (1, 1), (3, 3), (16, 3)])
async def test_max_concurrency_caps_a_batch_of_calls(make: Any, limit: int, peak: int) -> None:
    running: list[int] = []
    seen: list[int] = []

    @tool
    async def work(n: int) -> int:
        """Do some work.

        Args:
            n: Which piece.
        """
        running.append(n)
        seen.append(len(running))
        for _ in range(5):  # yield, so every call that may run gets to start
            await anyio.sleep(0)
        running.remove(n)
        return n

    h = make(reply(tool_calls=[("work", {"n": n}) for n in range(3)]), text_reply("ok"))
    agent = h.agent(tools=[work], tool_execution=ToolExecution(max_concurrency=limit))
    result = await agent.run("go")
    assert max(seen) == peak
    assert [b["content"] for b in h.bodies[1]["messages"][-1]["content"]] == ["0", "1", "2"]
    assert result.usage.tool_calls == 3


@pytest.mark.asyncio
async def test_a_raising_tool_becomes_an_error_result_and_the_run_goes_on(make: Any) -> None:
    @tool
    def broken(x: int) -> int:
        """Always fails.

        Args:
            x: Anything.
        """
        raise RuntimeError("disk on fire")

    h = make(reply(tool_calls=[("broken", {"x": 1}), ("broken", {"x": "nope"})]), text_reply("ok"))
    result = await h.agent(tools=[broken]).run("go")
    first, second = h.bodies[1]["messages"][-1]["content"]
    assert (
        first["is_error"]
        and "RuntimeError" in first["content"]
        and "disk on fire" in first["content"]
    )
    assert second["is_error"] and "x" in second["content"]  # validation names the field
    assert result.text == "ok"


@pytest.mark.asyncio
async def test_refusal_runs_none_of_that_turns_calls(make: Any) -> None:
    calls: list[str] = []

    @tool
    def act(x: str) -> str:
        """Act.

        Args:
            x: What.
        """
        calls.append(x)
        return x

    h = make(
        reply("I can't help with that.", tool_calls=[("act", {"x": "1"})], stop_reason="refusal")
    )
    result = await h.agent(tools=[act]).run("do it")
    assert calls == [] and result.stop_reason == "refusal"
    validate_conversation(result.messages)


@pytest.mark.asyncio
async def test_a_prompt_after_a_finished_run_continues_the_conversation(make: Any) -> None:
    h = make(text_reply("Hi!"), text_reply("Still here."))
    agent = h.agent()
    first = await agent.run("Hello")
    second = await agent.run("Are you there?", history=first.messages)
    assert [m["role"] for m in h.bodies[1]["messages"]] == ["user", "assistant", "user"]
    assert second.text == "Still here." and len(second.messages) == 4


@pytest.mark.asyncio
async def test_events_arrive_in_order_while_the_run_works(make: Any) -> None:
    h = make(tool_reply("get_weather", {"city": "Rome"}, text="Checking."), text_reply("Sunny."))
    events: list[Any] = []
    async with h.agent().iter("Rome?") as run:
        async for event in run:
            events.append(event)
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "ModelRequest" and kinds[-1] == "RunFinished"
    started = next(e for e in events if isinstance(e, ToolCallStarted))
    finished = next(e for e in events if isinstance(e, ToolCallFinished))
    assert started.name == finished.name == "get_weather"
    assert finished.result["content"] == "Sunny in Rome"
    assert kinds.index("ToolCallStarted") < kinds.index("ToolCallFinished")
    text = "".join(e.text for e in events if isinstance(e, TextChunk))
    assert text == "Checking.Sunny."
    assert sum(isinstance(e, TurnFinished) for e in events) == 2
    assert run.result is not None and run.result.text == "Sunny."


@pytest.mark.asyncio
async def test_hooks_can_modify_the_request_and_deny_a_call(make: Any) -> None:
    def before_model(ctx: RunContext[Any], params: dict[str, Any]) -> dict[str, Any]:
        return {**params, "metadata": {"user_id": "u-1"}}

    async def before_tool(ctx: RunContext[Any], call: dict[str, Any]) -> Deny | None:
        return Deny("Paris is off limits") if call["input"]["city"] == "Paris" else None

    h = make(
        reply(tool_calls=[("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Oslo"})]),
        text_reply("ok"),
    )
    await h.agent(hooks=Hooks(before_model=before_model, before_tool=before_tool)).run("go")
    assert h.bodies[0]["metadata"] == {"user_id": "u-1"}
    denied, allowed = h.bodies[1]["messages"][-1]["content"]
    assert denied["is_error"] and "off limits" in denied["content"]
    assert allowed["content"] == "Sunny in Oslo"


@pytest.mark.asyncio
async def test_approval_pauses_and_resumes_from_saved_state(make: Any) -> None:
    h = make(tool_reply("delete_file", {"path": "a.txt"}), text_reply("Done."))
    agent = h.agent(tools=[delete_file])
    paused = await agent.run("delete a.txt")
    assert paused.stop_reason == "approval_required"
    assert [c["input"] for c in paused.pending_approvals] == [{"path": "a.txt"}]
    saved = json.dumps(paused.state.to_dict())
    state = RunState.from_dict(json.loads(saved))
    pending_id = paused.pending_approvals[0]["id"]
    resumed = await agent.run(state=state, decisions={pending_id: True})
    assert resumed.text == "Done."
    assert h.bodies[1]["messages"][-1]["content"][0]["content"] == "deleted a.txt"
    assert len(h.bodies) == 2  # the finished model call was not repeated


@pytest.mark.asyncio
async def test_a_decision_naming_no_call_of_the_run_is_refused(make: Any) -> None:
    h = make(tool_reply("delete_file", {"path": "a.txt"}), text_reply("Done."))
    agent = h.agent(tools=[delete_file])
    paused = await agent.run("delete a.txt")
    pending_id = paused.pending_approvals[0]["id"]
    with pytest.raises(UsageError, match=rf"'toolu_typo', which is no tool call of this run; "
                       rf"the calls awaiting a decision are '{pending_id}' \(delete_file\)"):
        await agent.run(state=paused.state, decisions={"toolu_typo": True, pending_id: True})
    with pytest.raises(UsageError, match=r"decisions\['x'\] = 1: give True .*, False .* or a str"):
        await agent.run(state=paused.state, decisions={"x": 1})  # pyright: ignore[reportArgumentType]
    assert paused.state.decisions == {} and len(h.bodies) == 1  # nothing decided, nothing sent
    resumed = await agent.run(state=paused.state, decisions={pending_id: True})
    assert resumed.text == "Done."


@pytest.mark.asyncio
async def test_a_saved_state_refuses_a_change_to_a_decision_that_took_effect(make: Any) -> None:
    h = make(
        tool_reply("delete_file", {"path": "a.txt"}),
        tool_reply("delete_file", {"path": "b.txt"}),
        text_reply("Deleted b.txt only."),
        text_reply("a.txt is kept."),
    )
    agent = h.agent(tools=[delete_file])
    paused = await agent.run("delete a.txt and b.txt")
    a = paused.pending_approvals[0]["id"]
    again = await agent.run(state=paused.state, decisions={a: "keep it"})
    b = again.pending_approvals[0]["id"]
    saved = RunState.from_dict(json.loads(json.dumps(again.state.to_dict())))
    with pytest.raises(UsageError, match=rf"'{a}' \(delete_file\) was denied already \('keep "
                       r"it'\), and the model was told so.*Nothing was decided"):
        await agent.run(state=saved, decisions={a: True, b: True})
    assert b not in saved.decisions and len(h.bodies) == 2  # nothing decided, nothing sent
    done = await agent.run(state=saved, decisions={a: "keep it", b: True})  # the same: taken
    assert done.text == "Deleted b.txt only." and done.state.decisions == {a: "keep it", b: True}
    with pytest.raises(UsageError, match=rf"'{b}' \(delete_file\) was approved already, and "
                       "its result is in the conversation"):
        await agent.run("and a.txt?", state=done.state, decisions={b: False})
    more = await agent.run("and a.txt?", state=done.state, decisions={b: True})
    assert more.text == "a.txt is kept." and len(h.bodies) == 4


@pytest.mark.asyncio
async def test_approval_callback_can_deny(make: Any) -> None:
    h = make(tool_reply("delete_file", {"path": "a.txt"}), text_reply("Not deleted."))
    agent = h.agent(tools=[delete_file], approve=lambda ctx, call: Deny("not today"))
    result = await agent.run("delete a.txt")
    block = h.bodies[1]["messages"][-1]["content"][0]
    assert block["is_error"] and "not today" in block["content"]
    assert result.text == "Not deleted."


@pytest.mark.asyncio
async def test_an_approve_callback_returning_none_leaves_the_call_for_later(make: Any) -> None:
    # It looped forever (the engine asked again at once, never yielding), freezing the loop.
    calls = [("delete_file", {"path": "a.txt"}, "toolu_a"), ("delete_file", {"path": "b.txt"},
             "toolu_b")]
    h = make(reply(tool_calls=calls), text_reply("Deleted a.txt and b.txt."))
    asked: list[str] = []

    def approve(ctx: RunContext[Any], call: dict[str, Any]) -> bool | None:
        asked.append(call["id"])
        return True if call["input"]["path"] == "a.txt" else None  # b.txt: a human decides

    agent = h.agent(tools=[delete_file], approve=approve)
    paused = await agent.run("delete a.txt and b.txt")
    assert paused.stop_reason == "approval_required" and asked == ["toolu_a", "toolu_b"]
    assert [c["id"] for c in paused.pending_approvals] == ["toolu_b"]
    assert paused.state.decisions == {"toolu_a": True} and len(h.bodies) == 1  # nothing run
    done = await agent.run(state=paused.state, decisions={"toolu_b": True})
    results = h.bodies[1]["messages"][-1]["content"]
    assert [r["content"] for r in results] == ["deleted a.txt", "deleted b.txt"]
    assert done.text == "Deleted a.txt and b.txt." and asked == ["toolu_a", "toolu_b"]


@pytest.mark.asyncio
@pytest.mark.parametrize("verdict", ["yes", "Approved.", 1, {"ok": True}])
async def test_an_approve_callback_returning_no_decision_fails_naming_the_call(
    make: Any, verdict: object
) -> None:
    # "yes" denied the call (telling the model "Not run: yes."); 1 denied it too.
    h = make(reply(tool_calls=[("deleting", {"path": "a.txt"}, "toolu_a")]), text_reply("x"))
    ran: list[str] = []

    def deleting(path: str) -> str:
        """Delete a file.

        Args:
            path: The file.
        """
        ran.append(path)
        return f"deleted {path}"

    agent = h.agent(tools=[tool(deleting, requires_approval=True)],
                    approve=lambda ctx, call: verdict)
    with pytest.raises(RunError, match=r"approve callback returned .* for call 'toolu_a' "
                       r"\(deleting\).*return True.*Nothing was run") as caught:
        await agent.run("delete a.txt")
    assert ran == [] and len(h.bodies) == 1
    # The reply asking for the call was paid for: the error keeps it, its call answered.
    assert isinstance(caught.value.__cause__, UsageError)
    assert [m["role"] for m in caught.value.messages] == ["user", "assistant", "user"]
    # Never begun, and the model is told so (it read "If it had begun, it may or may not have
    # taken effect: check before calling it again").
    assert caught.value.messages[-1]["content"][0]["content"] == not_begun("the run failed "
                                                                           "(UsageError)")


def not_begun(why: str) -> str:
    return (f"Not run: {why} before this call began, so it had no effect; call it again if "
            "it is still needed.")


@pytest.mark.asyncio
@pytest.mark.parametrize("stop", ["cancelled", "timeout"])
async def test_a_run_stopped_while_approval_is_asked_tells_the_model_no_call_began(
    make: Any, stop: str
) -> None:
    # Every call was told "Not finished: ... If it had begun, it may or may not have taken
    # effect: check before calling it again", though none of the turn's calls begins before
    # its approvals are given.
    calls = [("deleting", {"path": "a.txt"}, "toolu_a"), ("get_weather", {"city": "Oslo"},
             "toolu_b")]
    h = make(reply(tool_calls=calls))
    ran: list[str] = []
    asked = anyio.Event()

    def deleting(path: str) -> str:
        """Delete a file.

        Args:
            path: The file.
        """
        ran.append(path)
        return f"deleted {path}"

    async def approve(ctx: RunContext[Any], call: dict[str, Any]) -> bool:
        asked.set()
        await anyio.sleep_forever()  # a human who never answers
        return True

    # Timed out: the run's clock stands still but for one jump, once the reply is in, to 10 ms
    # before the deadline, so the deadline passes while approval is asked, however slow the
    # machine (the engine's check before the step, and the model call, see a minute left).
    clock = FakeClock()

    def near_the_deadline(ctx: RunContext[Any], message: Any) -> None:
        clock.advance(60 - 0.01)

    timed = stop == "timeout"
    agent = h.agent(tools=[tool(deleting, requires_approval=True), get_weather],
                    approve=approve, limits=Limits(timeout=60 if timed else None), clock=clock,
                    hooks=Hooks(after_model=near_the_deadline) if timed else None)
    state = RunState(messages=[{"role": "user", "content": "delete a.txt"}])
    if stop == "timeout":
        with pytest.raises(LimitExceeded):
            await agent.run(state=state)
        why = "the run hit its timeout limit"
    else:
        async with anyio.create_task_group() as tg:
            tg.start_soon(functools.partial(agent.run, state=state))
            await asked.wait()
            tg.cancel_scope.cancel()
        why = "the run was cancelled"
    assert ran == [] and state.stop_reason == stop
    validate_conversation(state.messages)
    answers = state.messages[-1]["content"]
    assert [(a["tool_use_id"], a["is_error"], a["content"]) for a in answers] == [
        ("toolu_a", True, not_begun(why)), ("toolu_b", True, not_begun(why))
    ]


@pytest.mark.asyncio
async def test_a_blank_reason_denies_with_the_default_words(make: Any) -> None:
    h = make(tool_reply("delete_file", {"path": "a.txt"}), text_reply("Kept."))
    agent = h.agent(tools=[delete_file], approve=lambda ctx, call: " ")
    await agent.run("delete a.txt")
    block = h.bodies[1]["messages"][-1]["content"][0]
    assert block["is_error"] and block["content"] == "Not run: the user denied this call."


@pytest.mark.asyncio
async def test_a_decision_that_reads_as_an_approval_is_refused(make: Any) -> None:
    h = make(tool_reply("delete_file", {"path": "a.txt"}), text_reply("Done."))
    agent = h.agent(tools=[delete_file])
    paused = await agent.run("delete a.txt")
    call = paused.pending_approvals[0]["id"]
    with pytest.raises(UsageError, match=rf"decisions\['{call}'\] = 'Yes': a string denies the "
                       r"call .* reads as an approval; give True.*Nothing was decided"):
        await agent.run(state=paused.state, decisions={call: "Yes"})
    assert paused.state.decisions == {} and len(h.bodies) == 1
    done = await agent.run(state=paused.state, decisions={call: "not today"})  # a reason: taken
    assert h.bodies[1]["messages"][-1]["content"][0]["content"] == "Not run: not today."
    assert done.text == "Done."


@pytest.mark.asyncio
async def test_cancellation_leaves_a_valid_history_and_propagates(make: Any) -> None:
    started = anyio.Event()

    @tool
    async def slow(x: str) -> str:
        """Takes forever.

        Args:
            x: Anything.
        """
        started.set()
        await anyio.sleep_forever()
        return x

    weather_done = anyio.Event()

    def on_event(event: object) -> None:
        if isinstance(event, ToolCallFinished) and event.name == "get_weather":
            weather_done.set()  # its result is recorded: a sleep here raced the worker thread

    h = make(reply(tool_calls=[("get_weather", {"city": "Oslo"}), ("slow", {"x": "1"})]))
    state = RunState()
    agent = h.agent(tools=[get_weather, slow])
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: agent.run("go", state=state, on_event=on_event))
            await started.wait()
            await weather_done.wait()
            scope.cancel()
    assert scope.cancelled_caught
    validate_conversation(state.messages)
    done, cancelled = state.messages[-1]["content"]
    assert done["content"] == "Sunny in Oslo"
    assert cancelled["is_error"] and "cancelled" in cancelled["content"]
    assert state.stop_reason and "cancelled" in state.stop_reason


@pytest.mark.asyncio
async def test_limits_end_the_run_with_everything_kept(make: Any) -> None:
    h = make(tool_reply("get_weather", {"city": "Oslo"}))
    with pytest.raises(LimitExceeded) as info:
        await h.agent(limits=Limits(max_turns=1)).run("go")
    err = info.value
    assert err.limit == "max_turns" and err.usage.requests == 1
    validate_conversation(err.messages)
    assert err.result.state.stop_reason == "max_turns"


@pytest.mark.asyncio
async def test_wall_clock_timeout_cancels_tools_and_keeps_the_conversation(make: Any) -> None:
    @tool
    async def hang() -> str:
        """Never returns."""
        await anyio.sleep_forever()
        return ""

    h = make(tool_reply("hang", {}))
    with pytest.raises(LimitExceeded) as info:
        await h.agent(tools=[hang], limits=Limits(timeout=0.05)).run("go")
    assert info.value.limit == "timeout"
    validate_conversation(info.value.messages)


@pytest.mark.asyncio
async def test_a_failed_model_call_raises_run_error_carrying_the_conversation(make: Any) -> None:
    h = make(tool_reply("get_weather", {"city": "Oslo"}), Fault.server_error(500))
    with pytest.raises(RunError) as info:
        await h.agent(model_retries=0).run("go")
    err = info.value
    assert err.__cause__ is not None and err.usage.requests == 1
    validate_conversation(err.messages)
    assert err.messages[-1]["content"][0]["content"] == "Sunny in Oslo"
    # It can be resumed: the next request goes out with the same conversation.
    h.transport.push(text_reply("Recovered."))
    resumed = await h.agent().run(state=err.result.state)
    assert resumed.text == "Recovered."


class Forecast(BaseModel):
    city: str
    celsius: float


@pytest.mark.asyncio
async def test_structured_output_with_thinking_uses_auto_tool_choice(make: Any) -> None:
    h = make(
        reply(
            thinking="Answer.", tool_calls=[("final_result", {"city": "Oslo", "celsius": "cold"})]
        ),
        reply(thinking="Fix it.", tool_calls=[("final_result", {"city": "Oslo", "celsius": -3})]),
    )
    result = await h.agent(output_type=Forecast, thinking=1024, max_tokens=2048).run("Oslo?")
    assert result.output == Forecast(city="Oslo", celsius=-3)
    assert h.bodies[0]["tool_choice"] == {"type": "auto"}
    retry = h.bodies[1]["messages"][-1]["content"][0]
    assert retry["is_error"] and "celsius" in retry["content"]


@pytest.mark.asyncio
async def test_sub_agent_usage_counts_in_the_parent(make: Any) -> None:
    h = make(
        tool_reply("researcher", {"task": "find facts"}),
        text_reply("Fact: water is wet."),  # the sub-agent's reply
        text_reply("Done."),
    )
    sub = h.agent(tools=[], name="researcher", description="Finds facts.")
    parent = h.agent(tools=[sub.as_tool()])
    result = await parent.run("research")
    assert h.bodies[2]["messages"][-1]["content"][0]["content"] == "Fact: water is wet."
    assert result.usage.requests == 3


def test_run_sync_drives_the_same_loop() -> None:
    transport = ScriptedTransport([text_reply("sync ok")])
    agent = Agent(MODEL, client=AsyncClient(api_key="k", transport=transport))
    assert agent.run_sync("hi").text == "sync ok"


@pytest.mark.asyncio
async def test_calls_the_engine_answers_itself_are_reported_as_finished(make: Any) -> None:
    h = make(
        reply(tool_calls=[("delete_file", {"path": "a"}), ("no_such_tool", {})]),
        text_reply("ok"),
    )
    events: list[Any] = []
    agent = h.agent(tools=[delete_file], approve=lambda ctx, call: Deny("no"))
    await agent.run("go", on_event=events.append)
    finished = {e.name: e for e in events if isinstance(e, ToolCallFinished)}
    assert set(finished) == {"delete_file", "no_such_tool"}
    assert all(e.is_error for e in finished.values())
    assert "no" in finished["delete_file"].result["content"]


@pytest.mark.asyncio
async def test_a_reissued_stream_is_announced_by_model_retry(make: Any) -> None:
    from agentkit import ModelRetry

    h = make(
        Fault.stream_error(text_reply("lost"), error_type="overloaded_error"), text_reply("ok")
    )

    events: list[Any] = []
    result = await h.agent(stream=True, clock=FakeClock()).run("go", on_event=events.append)
    retries = [e for e in events if isinstance(e, ModelRetry)]
    assert result.text == "ok" and len(h.bodies) == 2
    assert [(e.turn, e.attempt) for e in retries] == [(1, 1)]


@pytest.mark.asyncio
async def test_pause_turn_is_continued_with_the_paused_content_unchanged(make: Any) -> None:
    paused = reply("Searching…", stop_reason="pause_turn")
    h = make(paused, text_reply("Found it."))
    result = await h.agent(tools=[]).run("search")
    assert result.text == "Searching…Found it." and result.usage.requests == 2
    assert h.bodies[1]["messages"][-1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "Searching…"}],
    }


@pytest.mark.asyncio
async def test_max_tokens_text_is_continued_then_stops(make: Any) -> None:
    h = make(
        reply("Part one, ", stop_reason="max_tokens"), reply("part two.", stop_reason="max_tokens")
    )
    result = await h.agent(tools=[], max_continuations=1).run("write")
    assert result.text == "Part one, part two." and result.stop_reason == "max_tokens"
    validate_conversation(result.messages)


@pytest.mark.asyncio
async def test_stop_sequence_and_unknown_stop_reasons_are_reported(make: Any) -> None:
    hit = reply("1, 2, 3, ", stop_reason="stop_sequence")
    hit.stop_sequence = "4"
    h = make(hit, reply("?", stop_reason="a_future_reason"))
    agent = h.agent(tools=[], settings=ModelSettings(stop_sequences=["4"]))
    first = await agent.run("count")
    assert (first.stop_reason, first.stop_sequence) == ("stop_sequence", "4")
    assert h.bodies[0]["stop_sequences"] == ["4"]
    second = await agent.run("again", history=first.messages)
    assert second.stop_reason == "a_future_reason" and second.text == "?"


@pytest.mark.parametrize(
    ("make_bad", "named"),
    [
        (lambda: Agent(MODEL, max_tokens=0), "max_tokens"),
        (lambda: Agent(MODEL, model_retries=-1), "model_retries"),
        (lambda: ToolExecution(max_concurrency=0), "max_concurrency"),
        (lambda: ToolExecution(max_result_chars=0), "max_result_chars"),
        (lambda: ModelSettings(temperature=1.5), "temperature"),
        (lambda: ModelSettings(top_k=0), "top_k"),
        (lambda: ModelSettings(stop_sequences="END"), "stop_sequences"),
    ],
)
def test_a_bad_option_fails_when_written_naming_it(make_bad: Any, named: str) -> None:
    with pytest.raises(UsageError, match=named):
        make_bad()


class _Plain:
    """A class pydantic cannot describe (no fields it knows)."""

    def __init__(self, total: int) -> None:
        self.total = total


def test_an_output_type_the_model_cannot_be_asked_for_is_a_usage_error_naming_it() -> None:
    # `Agent(output_type=...)` with a plain class raised pydantic's own error, whose advice
    # (set `arbitrary_types_allowed` in a model_config) is for pydantic models, not an agent.
    with pytest.raises(UsageError, match=r"output_type=<class '.*_Plain'> .*Use a pydantic "
                       r"model, a dataclass") as refused:
        Agent(MODEL, output_type=_Plain)
    assert "arbitrary_types_allowed" not in str(refused.value)
    assert refused.value.__cause__ is not None


def test_model_settings_are_sent_with_every_request() -> None:
    transport = ScriptedTransport([text_reply("ok")])
    settings = ModelSettings(
        temperature=0.2, top_k=5, metadata={"user_id": "u1"}, extra_params={"service_tier": "auto"}
    )
    agent = Agent(
        MODEL, settings=settings, client=AsyncClient(api_key="k", transport=transport)
    )
    agent.run_sync("hi")
    body = transport.requests[0].body
    assert (body["temperature"], body["top_k"], body["metadata"]) == (0.2, 5, {"user_id": "u1"})
    assert body["service_tier"] == "auto" and "top_p" not in body


@pytest.mark.asyncio
async def test_an_async_stop_when_is_refused_as_the_agent_is_made(make: Any) -> None:
    # Its coroutine, never awaited, was truthy: every run ended after its first turn, the
    # answer empty, as if stop_when had asked it to.
    async def done(state: RunState) -> bool:
        return state.turns > 5

    with pytest.raises(UsageError, match=r"stop_when=.* is an async function; stop_when is "
                       r"asked between steps by the engine, which awaits nothing: make it a "
                       r"plain def"):
        Agent(MODEL, stop_when=done)

    async def later() -> bool:
        return False

    harness = make(tool_reply("get_weather", {"city": "Oslo"}), text_reply("Sunny."))
    agent = harness.agent(tools=[get_weather], stop_when=lambda s: later())
    with pytest.raises(RunError, match="stop_when returned a coroutine, not a bool"):
        await agent.run("Weather?")


@pytest.mark.asyncio
async def test_an_on_event_that_would_see_no_event_is_refused_before_the_run(make: Any) -> None:
    h = make(text_reply("never asked"))
    agent = h.agent()
    seen: list[Any] = []

    def generator(event: Any) -> Any:  # calling it runs nothing: every event was dropped
        seen.append(event)
        yield

    async def async_generator(event: Any) -> Any:
        seen.append(event)
        yield

    for wrong in (generator, async_generator):
        with pytest.raises(UsageError, match=f"on_event='{wrong.__name__}' is a generator"):
            await agent.run("go", on_event=wrong)
    with pytest.raises(UsageError, match=r"on_event must be a function .* got list"):
        await agent.run("go", on_event=cast(Any, seen))  # a list, not its append
    assert h.bodies == [] and seen == []
