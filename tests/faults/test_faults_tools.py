"""Fault suite, tools misbehaving: raising, hanging, huge results, and cancellation.

A tool's failure becomes an `is_error` result and the run goes on, unless the agent escalates
errors; whatever ends the run, every `tool_use` is answered (real results for the calls that
finished) so the history stays valid and can be continued.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from fault_helpers import BOTH, agent_for, scripted_client

from agentkit import (
    Hooks,
    LimitExceeded,
    Limits,
    RunError,
    RunState,
    ToolCallFinished,
    ToolExecution,
    tool,
    validate_conversation,
)
from agentkit.testing import FakeClock, Fault, reply

TEN_MB = 10 * 1024 * 1024


@tool
def ok(x: int) -> str:
    """Return a fixed answer."""
    return f"ok {x}"


@tool
def broken(x: int) -> str:
    """Always fail."""
    raise ValueError(f"kaput {x}")


@tool
async def hangs(x: int) -> str:
    """Never return."""
    await anyio.sleep_forever()
    return "never"


def results_of(messages: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The tool_result blocks of the last user turn, by the name of the call they answer."""
    names = {b["id"]: b["name"] for b in messages[-2]["content"] if b["type"] == "tool_use"}
    return {names[b["tool_use_id"]]: b for b in messages[-1]["content"]}


def two_calls(first: str, second: str) -> Any:
    return reply(tool_calls=[(first, {"x": 1}), (second, {"x": 2})])


# -- raising -----------------------------------------------------------------------------------


@BOTH
@pytest.mark.asyncio
async def test_a_raising_tool_becomes_an_error_result_and_the_run_goes_on(stream: bool) -> None:
    client, transport, _ = scripted_client([two_calls("ok", "broken"), "recovered"])
    result = await agent_for(client, stream=stream, tools=[ok, broken]).run("go")
    assert result.text == "recovered"
    sent = results_of(transport.requests[1].messages)
    assert sent["ok"] == {"type": "tool_result", "tool_use_id": sent["ok"]["tool_use_id"],
                          "content": "ok 1"}
    assert sent["broken"]["is_error"] is True
    assert sent["broken"]["content"] == "ValueError: kaput 2"
    assert result.usage.tool_calls == 2


@pytest.mark.parametrize("calls", [("broken",), ("ok", "broken")], ids=["alone", "parallel"])
@pytest.mark.asyncio
async def test_an_escalated_tool_error_is_a_run_error_with_a_valid_history(
    calls: tuple[str, ...],
) -> None:
    done = anyio.Event()

    @tool
    async def ok(x: int) -> str:
        """Return a fixed answer."""
        done.set()
        return f"ok {x}"

    @tool
    async def broken(x: int) -> str:
        """Fail, once `ok` (when called) has finished: the order is then certain."""
        if "ok" in calls:
            await done.wait()
        raise ValueError(f"kaput {x}")

    step = reply(tool_calls=[(name, {"x": i}) for i, name in enumerate(calls)])
    client, _, _ = scripted_client([step])
    execution = ToolExecution(raise_errors=True)
    agent = agent_for(client, stream=False, tools=[ok, broken], tool_execution=execution)
    with pytest.raises(RunError) as caught:
        await agent.run("go")
    error = caught.value
    assert type(error.__cause__) is ValueError and "kaput" in str(error.__cause__)
    validate_conversation(error.messages)
    answered = results_of(error.messages)
    assert answered["broken"] == {
        "type": "tool_result", "tool_use_id": answered["broken"]["tool_use_id"],
        "content": "Not finished: the run failed (ValueError) before this call finished. If it "
                   "had begun, it may or may not have taken effect: check before calling it again.",
        "is_error": True,
    }
    if "ok" in calls:
        assert answered["ok"]["content"] == "ok 0"  # a finished call keeps its real result
    assert error.usage.requests == 1 and error.result.stop_reason == "failed"
    client2, transport2, _ = scripted_client(["after"])
    again = await agent_for(client2, stream=False, tools=[ok, broken]).run(
        "try again", state=error.result.state
    )
    assert again.text == "after"
    assert transport2.requests[0].messages[:-1] == error.messages[:-1]
    validate_conversation(again.messages)


# -- hanging -----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_an_async_tool_past_its_timeout_is_stopped_and_reported() -> None:
    slow = hangs.replace(timeout=0.05)
    client, transport, _ = scripted_client([two_calls("ok", "hangs"), "fine"])
    result = await agent_for(client, stream=False, tools=[ok, slow]).run("go")
    assert result.text == "fine"
    sent = results_of(transport.requests[1].messages)
    assert sent["ok"]["content"] == "ok 1"
    assert sent["hangs"]["is_error"] is True
    assert "timed out after 0.05 s" in sent["hangs"]["content"]


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    """An event a blocking sync tool waits on; set at teardown so no thread outlives the test."""
    event = threading.Event()
    yield event
    event.set()


@pytest.mark.asyncio
async def test_a_sync_tool_past_its_timeout_is_abandoned_and_reported(
    gate: threading.Event,
) -> None:
    @tool(timeout=0.05)
    def blocks(x: int) -> str:
        """Block a worker thread."""
        gate.wait(10)
        return "late"

    client, transport, _ = scripted_client([reply(tool_calls=[("blocks", {"x": 1})]), "fine"])
    result = await agent_for(client, stream=False, tools=[blocks]).run("go")
    assert result.text == "fine"
    block = transport.requests[1].messages[-1]["content"][0]
    assert block["is_error"] is True and "abandoned" in block["content"]


@BOTH
@pytest.mark.asyncio
async def test_the_run_timeout_stops_hanging_tools_and_keeps_a_valid_history(
    stream: bool, frozen_clock: Any
) -> None:
    def on_event(event: object) -> None:
        if isinstance(event, ToolCallFinished):
            frozen_clock.advance(0.2)  # the deadline passes once `ok` is done, not in a race

    client, _, _ = scripted_client([two_calls("ok", "hangs")])
    agent = agent_for(client, stream=stream, tools=[ok, hangs], limits=Limits(timeout=0.1))
    with pytest.raises(LimitExceeded) as caught:
        await agent.run("go", on_event=on_event)
    error = caught.value
    assert error.limit == "timeout" and error.result.stop_reason == "timeout"
    validate_conversation(error.messages)
    answered = results_of(error.messages)
    assert answered["ok"]["content"] == "ok 1"
    assert answered["hangs"]["is_error"] is True
    # "Not run" was false for a call the deadline cut while it ran: a model told so would
    # make a call with a side effect again.
    assert answered["hangs"]["content"] == (
        "Not finished: the run hit its timeout limit before this call finished. If it had "
        "begun, it may or may not have taken effect: check before calling it again."
    )
    client2, _, _ = scripted_client(["later"])
    more = await agent_for(client2, stream=stream, tools=[ok]).run("go on", history=error.messages)
    assert more.text == "later"


# -- huge results ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["text", "json"])
@pytest.mark.asyncio
async def test_a_10_mb_result_is_cut_to_the_limit_with_a_marker(kind: str) -> None:
    @tool
    def dump(x: int) -> Any:
        """Return far too much."""
        return "y" * TEN_MB if kind == "text" else {"rows": ["z" * 1000] * (TEN_MB // 1000)}

    client, transport, _ = scripted_client([reply(tool_calls=[("dump", {"x": 1})]), "read it"])
    result = await agent_for(client, stream=False, tools=[dump]).run("go")
    assert result.text == "read it"
    content = transport.requests[1].messages[-1]["content"][0]["content"]
    assert len(content) < 101_000
    assert "[truncated:" in content and "the result limit is 100,000 characters" in content
    assert len(json.dumps(transport.requests[1].body)) < 120_000
    validate_conversation(result.messages)


@pytest.mark.asyncio
async def test_the_run_wide_result_limit_applies_to_a_huge_result() -> None:
    @tool
    def dump(x: int) -> str:
        """Return far too much."""
        return "y" * TEN_MB

    client, transport, _ = scripted_client([reply(tool_calls=[("dump", {"x": 1})]), "ok"])
    execution = ToolExecution(max_result_chars=1000)
    agent = agent_for(client, stream=False, tools=[dump], tool_execution=execution)
    await agent.run("go")
    content = transport.requests[1].messages[-1]["content"][0]["content"]
    assert content.startswith("y" * 1000) and "y" * 1001 not in content


# -- cancellation ------------------------------------------------------------------------------


@BOTH
@pytest.mark.asyncio
async def test_cancelling_while_tools_run_answers_every_call_and_propagates(
    stream: bool,
) -> None:
    finished = anyio.Event()

    @tool
    async def quick(x: int) -> str:
        """Finish at once."""
        finished.set()
        return "quick result"

    def on_event(event: object) -> None:
        if isinstance(event, ToolCallFinished):
            recorded.set()

    recorded = anyio.Event()
    client, _, _ = scripted_client([two_calls("quick", "hangs")])
    agent = agent_for(client, stream=stream, tools=[quick, hangs])
    state = RunState(messages=[{"role": "user", "content": "go"}])
    reached_after_run = False
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(functools.partial(agent.run, state=state, on_event=on_event))
            await finished.wait()
            await recorded.wait()  # `quick`'s result is recorded
            scope.cancel()
        reached_after_run = True
    assert scope.cancelled_caught and not reached_after_run  # the cancellation propagated
    validate_conversation(state.messages)
    answered = results_of(state.messages)
    assert answered["quick"] == {
        "type": "tool_result", "tool_use_id": answered["quick"]["tool_use_id"],
        "content": "quick result",
    }
    assert answered["hangs"]["is_error"] is True
    assert answered["hangs"]["content"] == (  # it was running: "Not run" would be false
        "Not finished: the run was cancelled before this call finished. If it had begun, it "
        "may or may not have taken effect: check before calling it again."
    )
    assert state.stop_reason == "cancelled" and state.done and state.pending == []
    client2, transport2, _ = scripted_client(["resumed"])
    more = await agent_for(client2, stream=stream, tools=[quick]).run("go on", state=state)
    assert more.text == "resumed"
    assert transport2.requests[0].messages[:-1] == state.messages[:-1]


@pytest.mark.asyncio
async def test_cancelling_during_a_model_request_leaves_a_valid_history() -> None:
    client, _, _ = scripted_client([two_calls("ok", "ok"), Fault.overloaded()])
    state = RunState(messages=[{"role": "user", "content": "go"}])
    with anyio.CancelScope() as scope:

        class CancelInstead(FakeClock):
            async def sleep(self, seconds: float) -> None:
                scope.cancel()  # the cancellation lands while the request waits to be retried
                await anyio.sleep_forever()

        # The second request failed (overloaded): the engine asks the clock to wait.
        agent = agent_for(client, stream=False, tools=[ok], clock=CancelInstead())
        await agent.run(state=state)
    assert scope.cancelled_caught
    validate_conversation(state.messages)
    assert [m["role"] for m in state.messages] == ["user", "assistant", "user"]
    assert state.stop_reason == "cancelled" and state.usage.tool_calls == 2


@pytest.mark.asyncio
async def test_an_iterated_run_cancelled_mid_tools_keeps_its_state_valid() -> None:
    client, _, _ = scripted_client([two_calls("ok", "hangs")])
    agent = agent_for(client, stream=True, tools=[ok, hangs])
    kinds: list[str] = []
    with anyio.CancelScope() as scope:
        async with agent.iter("go") as run:
            async for event in run:
                kinds.append(type(event).__name__)
                if isinstance(event, ToolCallFinished):
                    scope.cancel()  # mid-tools: `ok` is done, `hangs` never will be
    assert scope.cancelled_caught and "ToolCallFinished" in kinds
    validate_conversation(run.state.messages)
    assert run.state.stop_reason == "cancelled" and run.result is None


# -- sub-agents and hooks ----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_failing_sub_agent_is_an_error_result_and_its_spend_is_counted() -> None:
    sub_client, _, _ = scripted_client(
        [reply(tool_calls=[("ok", {"x": 7})]), Fault.error(500, should_retry=False)]
    )
    helper = agent_for(sub_client, stream=False, tools=[ok], name="helper", description="Helps.")
    client, transport, _ = scripted_client([reply(tool_calls=[("helper", {"task": "t"})]), "ok"])
    result = await agent_for(client, stream=False, tools=[helper.as_tool()]).run("go")
    assert result.text == "ok"
    block = transport.requests[1].messages[-1]["content"][0]
    assert block["is_error"] is True and block["content"].startswith("RunError: ")
    # The parent's 2 requests and the sub-run's 1 completed one; its tool call and the parent's.
    assert result.usage.requests == 3 and result.usage.tool_calls == 2
    validate_conversation(result.messages)


@pytest.mark.asyncio
async def test_a_raising_hook_ends_the_run_in_a_run_error() -> None:
    def refuse(ctx: Any, params: dict[str, Any]) -> None:
        raise KeyError("hook broke")

    client, transport, _ = scripted_client([two_calls("ok", "ok")])
    agent = agent_for(client, stream=False, tools=[ok], hooks=Hooks(before_model=_nth(2, refuse)))
    with pytest.raises(RunError) as caught:
        await agent.run("go")
    assert isinstance(caught.value.__cause__, KeyError)
    validate_conversation(caught.value.messages)
    assert caught.value.usage.tool_calls == 2 and len(transport.requests) == 1


def _nth(n: int, hook: Any) -> Any:
    """`hook` from its n-th call on (earlier calls pass)."""
    calls = [0]

    def wrapped(*args: Any) -> Any:
        calls[0] += 1
        return hook(*args) if calls[0] >= n else None

    return wrapped


# -- approvals ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_fault_after_approving_a_call_keeps_its_result_and_no_stale_pause() -> None:
    @tool(requires_approval=True)
    def delete(path: str) -> str:
        """Delete a file."""
        return f"deleted {path}"

    client, _, _ = scripted_client([reply(tool_calls=[("delete", {"path": "/tmp/x"})])])
    paused = await agent_for(client, stream=False, tools=[delete]).run("clean up")
    assert paused.stop_reason == "approval_required"
    call_id = paused.pending_approvals[0]["id"]

    client2, _, _ = scripted_client([Fault.error(500, should_retry=False)])
    with pytest.raises(RunError) as caught:
        await agent_for(client2, stream=False, tools=[delete]).run(
            state=paused.state, decisions={call_id: True}
        )
    error = caught.value
    validate_conversation(error.messages)
    assert error.messages[-1]["content"][0]["content"] == "deleted /tmp/x"
    assert error.result.stop_reason != "approval_required" and error.result.pending_approvals == []
    before = list(error.messages)  # the state is resumed in place
    client3, transport3, _ = scripted_client(["all clean"])
    done = await agent_for(client3, stream=False, tools=[delete]).run(state=error.result.state)
    assert done.text == "all clean" and done.usage.tool_calls == 1  # not run a second time
    assert transport3.requests[0].messages == before
