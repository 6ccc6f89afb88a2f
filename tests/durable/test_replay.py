"""Replaying a stored run's journal (`_run/replay.py`): the journal is followed whatever the
agent offers today. A call's journaled result is what it returned, even when its tool is no
longer offered (a `prepare` hook hides it, an MCP server's list changed); a call that started
and has no result is answered as interrupted. A crash is a `BaseException` raised in a hook."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentkit import (
    Agent,
    AsyncClient,
    Hooks,
    RunContext,
    RunError,
    SQLiteStore,
    Tool,
    Toolset,
    tool,
)
from agentkit._run.replay import INTERRUPTED
from agentkit.events import ToolCallFinished
from agentkit.testing import ScriptedTransport, reply, text_reply

MODEL = "claude-sonnet-4-5"


class Crash(BaseException):
    """Stands for the process dying: not an `Exception`, so nothing turns it into a result."""


charged: list[str] = []


@tool
async def charge(ctx: RunContext[None], order: int) -> str:
    """Charge an order."""
    charged.append(str(ctx.idempotency_key))
    return f"charged {order}"


def agent_for(
    transport: ScriptedTransport, *, offered: bool, hooks: Hooks | None = None
) -> Agent[Any]:
    """An agent whose `charge` is offered or hidden by a `prepare` hook (the fingerprint is
    the same either way: the tool is still the agent's)."""

    async def prepare(ctx: RunContext[Any], t: Tool) -> Tool | None:
        return t if offered else None

    client = AsyncClient(api_key="sk-test", transport=transport, max_retries=0)
    tools = Toolset([charge]).with_prepare(prepare)
    return Agent(MODEL, tools=[tools], client=client, hooks=hooks or Hooks())


def script() -> list[Any]:
    return [reply(tool_calls=[("charge", {"order": 1}, "toolu_1")]), text_reply("Charged.")]


def results(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [b for m in messages if m["role"] == "user"
                                    for b in m["content"] if not isinstance(b, str)]
    return [b for b in blocks if b["type"] == "tool_result"]


@pytest.fixture
def store(tmp_path: Path) -> SQLiteStore:
    charged.clear()
    return SQLiteStore(tmp_path / "runs.db")


@pytest.mark.asyncio
async def test_a_finished_run_whose_lone_call_s_tool_is_hidden_now_is_returned_as_stored(
    store: SQLiteStore,
) -> None:
    first = await agent_for(ScriptedTransport(script()), offered=True).run(
        "Charge 1", run_id="r1", store=store
    )
    # No model call (an empty script fails any), no tool call, the stored result.
    again = await agent_for(ScriptedTransport([]), offered=False).run(
        "Charge 1", run_id="r1", store=store
    )
    assert again.text == "Charged." and again.messages == first.messages
    assert results(again.messages)[0]["content"] == "charged 1"
    assert charged == ["r1:toolu_1"]
    assert store.header("r1").status == "finished"  # type: ignore[union-attr]


@pytest.mark.asyncio
async def test_a_run_cut_after_its_lone_call_s_result_resumes_with_that_result(
    store: SQLiteStore,
) -> None:
    def crash(ctx: RunContext[Any], params: object) -> None:
        if ctx.turn == 1:  # the call's result is committed, the next request is not sent
            raise Crash

    with pytest.raises(Crash):
        await agent_for(ScriptedTransport(script()[:1]), offered=True,
                        hooks=Hooks(before_model=crash)).run("Charge 1", run_id="r1", store=store)
    transport = ScriptedTransport(script()[1:])
    resumed = await agent_for(transport, offered=False).run("Charge 1", run_id="r1", store=store)

    sent = results(transport.requests[0].body["messages"])
    assert sent == [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "charged 1"}]
    assert resumed.text == "Charged." and charged == ["r1:toolu_1"]


@pytest.mark.asyncio
async def test_a_lone_call_cut_after_its_started_mark_is_interrupted_whatever_is_offered(
    store: SQLiteStore,
) -> None:
    def crash(ctx: RunContext[Any], call: dict[str, Any]) -> None:
        raise Crash  # the started mark is committed, the call never returns

    with pytest.raises(Crash):
        await agent_for(ScriptedTransport(script()[:1]), offered=True,
                        hooks=Hooks(before_tool=crash)).run("Charge 1", run_id="r1", store=store)
    transport = ScriptedTransport(script()[1:])
    resumed = await agent_for(transport, offered=False).run("Charge 1", run_id="r1", store=store)

    sent = results(transport.requests[0].body["messages"])
    assert sent == [{"type": "tool_result", "tool_use_id": "toolu_1", "content": INTERRUPTED,
                     "is_error": True}]  # not "unknown tool": it may have taken effect
    assert resumed.text == "Charged." and charged == []


@pytest.mark.asyncio
async def test_an_interrupted_call_s_answer_is_reported_by_the_process_that_makes_it(
    store: SQLiteStore,
) -> None:
    # The resume answers the call itself ("interrupted"): new to every consumer, yet it sent no
    # ToolCallFinished, so a consumer (a UI, a log, a trace) never saw how the call ended.
    def crash(ctx: RunContext[Any], call: dict[str, Any]) -> None:
        raise Crash

    with pytest.raises(Crash):
        await agent_for(ScriptedTransport(script()[:1]), offered=True,
                        hooks=Hooks(before_tool=crash)).run("Charge 1", run_id="r1", store=store)
    events: list[Any] = []
    await agent_for(ScriptedTransport(script()[1:]), offered=True).run(
        "Charge 1", run_id="r1", store=store, on_event=events.append)

    finished = [e for e in events if isinstance(e, ToolCallFinished)]
    assert [(e.id, e.name, e.input, e.turn, e.is_error) for e in finished] == [
        ("toolu_1", "charge", {"order": 1}, 1, True)
    ]
    assert finished[0].result["content"] == INTERRUPTED and finished[0].run_id == "r1"
    assert isinstance(events[0], ToolCallFinished)  # before the next request
    events.clear()
    await agent_for(ScriptedTransport([]), offered=True).run(
        "Charge 1", run_id="r1", store=store, on_event=events.append)
    assert [type(e).__name__ for e in events] == ["RunFinished"]  # reported once, not again


@pytest.mark.asyncio
async def test_a_resume_lists_no_tools_for_a_turn_whose_calls_returned_and_takes_a_new_description(
    store: SQLiteStore,
) -> None:
    # The README: tool descriptions and code may change between resumes; a replayed turn
    # whose calls all have their results lists no tools (nothing depends on them).
    def crash(ctx: RunContext[Any], params: object) -> None:
        if ctx.turn == 1:
            raise Crash

    with pytest.raises(Crash):
        await agent_for(ScriptedTransport(script()[:1]), offered=True,
                        hooks=Hooks(before_model=crash)).run("Charge 1", run_id="r1", store=store)

    turns: list[tuple[int, int]] = []

    async def prepare(ctx: RunContext[Any], t: Tool) -> Tool | None:
        turns.append((ctx.turn, len(ctx.messages)))
        return t

    reworded = charge.replace(description="Charge an order, in euros.")
    transport = ScriptedTransport(script()[1:])
    client = AsyncClient(api_key="sk-test", transport=transport, max_retries=0)
    agent = Agent(MODEL, tools=[Toolset([reworded]).with_prepare(prepare)], client=client)
    resumed = await agent.run("Charge 1", run_id="r1", store=store)

    assert resumed.text == "Charged." and charged == ["r1:toolu_1"]
    assert turns == [(1, 3)]  # turn 0 replayed (its call returned), turn 1 live: listed once
    (sent,) = transport.requests[0].body["tools"]
    assert sent["description"] == "Charge an order, in euros."


class Guard:
    """An `after_model` hook that rejects replies while `failing` holds (raising `failing`'s
    exception), recording what it was given each time."""

    def __init__(self, failing: BaseException | None) -> None:
        self.failing = failing
        self.seen: list[tuple[int, int, int, str | None]] = []

    def __call__(self, ctx: RunContext[Any], message: Any) -> None:
        self.seen.append((ctx.turn, len(ctx.messages), ctx.usage.requests, message.id))
        if self.failing is not None:
            raise self.failing


@pytest.mark.asyncio
@pytest.mark.parametrize("failing", [ValueError("moderation timed out"), Crash()],
                         ids=["raises", "crash"])
async def test_a_reply_an_after_model_hook_failed_on_is_kept_and_checked_again_on_resume(
    store: SQLiteStore, failing: BaseException
) -> None:
    # The hook ran before the reply was journaled: the run was stored failed without it, and
    # the resume asked the model again (a reply paid for twice, maybe answered otherwise).
    # Now the reply is journaled (counted once) and the hook runs on it again on resume, as
    # it was given it: while it raises the run fails again, once it passes the run goes on.
    guard = Guard(failing)

    def agent(transport: ScriptedTransport) -> Agent[Any]:
        return agent_for(transport, offered=True, hooks=Hooks(after_model=guard))

    with pytest.raises(RunError if isinstance(failing, Exception) else Crash):
        await agent(ScriptedTransport(script()[:1])).run("Charge 1", run_id="r1", store=store)
    assert [e.kind for e in store.entries("r1")][:2] == ["start", "reply"]
    header = store.header("r1")
    assert header is not None and header.turns == 1 and header.input_tokens > 0

    guard.failing = ValueError("rejected again")  # a guardrail keeps rejecting it
    none = ScriptedTransport([])
    with pytest.raises(RunError) as again:
        await agent(none).run("Charge 1", run_id="r1", store=store)
    assert none.requests == [] and again.value.usage.requests == 1 and charged == []
    assert store.header("r1").status == "failed"  # type: ignore[union-attr]

    guard.failing = None
    rest = ScriptedTransport(script()[1:])
    done = await agent(rest).run("Charge 1", run_id="r1", store=store)
    assert done.text == "Charged." and charged == ["r1:toolu_1"] and len(rest.requests) == 1
    assert done.usage.requests == 2
    assert guard.seen[:3] == [guard.seen[0]] * 3 and guard.seen[0][:3] == (0, 1, 0)
    read_back = await agent(ScriptedTransport([])).run("Charge 1", run_id="r1", store=store)
    assert read_back.usage.requests == 2 and len(guard.seen) == 4  # finished: not checked again


@pytest.mark.asyncio
@pytest.mark.parametrize("answered", ["denied", "unknown tool"])
async def test_a_call_the_engine_answered_before_a_crash_is_not_reported_again(
    store: SQLiteStore, answered: str
) -> None:
    # The first process answered the call itself (its denial journaled as a decision, or its
    # tool unknown) and reported it; the crash came after the turn's other call returned. The
    # resume answered it again and sent a second ToolCallFinished for it.
    gated = charge.replace(requires_approval=True) if answered == "denied" else charge
    other = ("charge", {"order": 2}, "toolu_2") if answered == "denied" else (
        "refund", {"order": 2}, "toolu_2")
    turn = reply(tool_calls=[("charge", {"order": 1}, "toolu_1"), other])

    def crash(ctx: RunContext[Any], params: object) -> None:
        if ctx.turn == 1:  # both calls answered and journaled, the next request not sent
            raise Crash

    def agent(transport: ScriptedTransport, hooks: Hooks | None = None) -> Agent[Any]:
        client = AsyncClient(api_key="sk-test", transport=transport, max_retries=0)
        return Agent(MODEL, tools=[gated], client=client, hooks=hooks or Hooks(),
                     approve=lambda ctx, call: call["input"] == {"order": 1} or "on hold")

    first: list[Any] = []
    with pytest.raises(Crash):
        await agent(ScriptedTransport([turn]), Hooks(before_model=crash)).run(
            "Charge 1 and 2", run_id="r1", store=store, on_event=first.append)
    assert sorted(e.id for e in first if isinstance(e, ToolCallFinished)) == ["toolu_1", "toolu_2"]
    again: list[Any] = []
    transport = ScriptedTransport([text_reply("Charged 1.")])
    resumed = await agent(transport).run("Charge 1 and 2", run_id="r1", store=store,
                                         on_event=again.append)

    assert resumed.text == "Charged 1." and charged == ["r1:toolu_1"]
    assert [e for e in again if isinstance(e, ToolCallFinished)] == []  # reported once, before
    sent = results(transport.requests[0].body["messages"])
    assert [(b["tool_use_id"], b.get("is_error")) for b in sent] == [
        ("toolu_1", None), ("toolu_2", True)]


@pytest.mark.asyncio
async def test_a_call_cut_beside_a_denied_one_is_the_only_one_the_resume_reports(
    store: SQLiteStore,
) -> None:
    # The denial was reported before the approved call started; the crash cut that call. The
    # resume reports the cut call's new answer ("interrupted"), not the denial again.
    def crash(ctx: RunContext[Any], call: dict[str, Any]) -> None:
        raise Crash  # the started mark is committed, the call never returns

    def agent(transport: ScriptedTransport, hooks: Hooks | None = None) -> Agent[Any]:
        client = AsyncClient(api_key="sk-test", transport=transport, max_retries=0)
        return Agent(MODEL, tools=[charge.replace(requires_approval=True)], client=client,
                     hooks=hooks or Hooks(),
                     approve=lambda ctx, call: call["input"] == {"order": 1} or "on hold")

    turn = reply(tool_calls=[("charge", {"order": 1}, "toolu_1"),
                             ("charge", {"order": 2}, "toolu_2")])
    first: list[Any] = []
    with pytest.raises(Crash):
        await agent(ScriptedTransport([turn]), Hooks(before_tool=crash)).run(
            "Charge 1 and 2", run_id="r1", store=store, on_event=first.append)
    assert [e.id for e in first if isinstance(e, ToolCallFinished)] == ["toolu_2"]
    again: list[Any] = []
    transport = ScriptedTransport([text_reply("Charged 1, maybe.")])
    await agent(transport).run("Charge 1 and 2", run_id="r1", store=store, on_event=again.append)

    finished = [e for e in again if isinstance(e, ToolCallFinished)]
    assert [(e.id, e.result["content"]) for e in finished] == [("toolu_1", INTERRUPTED)]
    sent = results(transport.requests[0].body["messages"])
    assert [(b["tool_use_id"], b["content"]) for b in sent] == [
        ("toolu_1", INTERRUPTED), ("toolu_2", "Not run: on hold.")]
    assert charged == []
