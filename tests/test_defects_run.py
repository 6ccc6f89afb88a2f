"""Regression tests for defects found by using `Agent` as a user would (issue 9).

Each test drives the public API over the strict scripted fake and failed before its fix.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
import pytest_asyncio
from harness import MODEL, Harnesses, delete_file, get_weather
from pydantic import BaseModel, Field

from agentkit import (
    Agent,
    AsyncClient,
    ConversationError,
    Hooks,
    ModelSettings,
    RunContext,
    RunError,
    RunResult,
    RunState,
    Tool,
    Toolset,
    TurnFinished,
    UsageError,
    tool,
    validate_conversation,
)
from agentkit.context import ServerEditing, Trim
from agentkit.events import AgentEvent
from agentkit.testing import FakeServer, reply, text_reply, tool_reply


@pytest_asyncio.fixture
async def make() -> AsyncIterator[Harnesses]:
    harnesses = Harnesses()
    yield harnesses
    await harnesses.aclose()


# -- run(on_event=async_callback) -------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
async def test_an_async_event_callback_is_awaited_and_sees_every_event_in_order(
    make: Any, stream: bool
) -> None:
    script = (tool_reply("get_weather", {"city": "Oslo"}, text="Checking."), text_reply("Sunny."))
    seen_sync: list[AgentEvent] = []
    await make(*script).agent(stream=stream).run("Oslo?", on_event=seen_sync.append)

    seen_async: list[AgentEvent] = []

    async def on_event(event: AgentEvent) -> None:
        await anyio.lowlevel.checkpoint()  # a callback that really awaits something
        seen_async.append(event)

    result = await make(*script).agent(stream=stream).run("Oslo?", on_event=on_event)
    assert result.text == "Sunny."
    kinds = [type(e).__name__ for e in seen_async]
    assert kinds == [type(e).__name__ for e in seen_sync]
    assert kinds[0] == "ModelRequest" and kinds[-1] == "RunFinished"
    assert kinds.index("ToolCallStarted") < kinds.index("ToolCallFinished")


@pytest.mark.asyncio
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_a_failing_event_callback_fails_the_run_the_same_way_sync_or_async(
    make: Any, is_async: bool
) -> None:
    def fail(event: AgentEvent) -> None:
        if type(event).__name__ == "ToolCallFinished":
            raise ValueError("the display broke")

    async def fail_async(event: AgentEvent) -> None:
        fail(event)

    h = make(tool_reply("get_weather", {"city": "Oslo"}))
    with pytest.raises(RunError, match="the display broke") as caught:
        await h.agent().run("Oslo?", on_event=fail_async if is_async else fail)
    assert isinstance(caught.value.__cause__, ValueError)
    assert caught.value.result is not None and caught.value.result.stop_reason == "failed"


# -- result.pending_approvals ----------------------------------------------------------------


@pytest.mark.asyncio
async def test_pending_approvals_lists_only_the_calls_that_need_one(make: Any) -> None:
    h = make(
        reply(
            tool_calls=[
                ("get_weather", {"city": "Oslo"}),
                ("delete_file", {"path": "a.txt"}),
                ("get_weather", {"city": "Rome"}),
            ]
        ),
        text_reply("Done."),
    )
    agent = h.agent(tools=[get_weather, delete_file])
    paused = await agent.run("go")
    assert paused.stop_reason == "approval_required"
    assert [c["name"] for c in paused.pending_approvals] == ["delete_file"]
    state = RunState.from_dict(json.loads(json.dumps(paused.state.to_dict())))
    assert [c["name"] for c in RunResult(state, "").pending_approvals] == ["delete_file"]
    resumed = await agent.run(state=state, decisions={paused.pending_approvals[0]["id"]: True})
    assert resumed.text == "Done." and resumed.pending_approvals == []
    results = [b["content"] for b in h.bodies[1]["messages"][-1]["content"]]
    assert results == ["Sunny in Oslo", "deleted a.txt", "Sunny in Rome"]


# -- agent.as_tool() with output_type ----------------------------------------------------------


class Forecast(BaseModel):
    city: str
    celsius: float = Field(alias="degreesCelsius")


@pytest.mark.asyncio
async def test_a_sub_agent_with_output_type_hands_its_output_to_the_parent_as_json(
    make: Any,
) -> None:
    answer = {"city": "Oslo", "degreesCelsius": -3.5}
    h = make(
        tool_reply("forecaster", {"task": "Oslo tomorrow"}),
        tool_reply("final_result", answer),  # the sub-agent's structured answer
        text_reply("Cold: -3.5 C."),
    )
    sub = h.agent(tools=[], output_type=Forecast, name="forecaster", description="Forecasts.")
    result = await h.agent(tools=[sub.as_tool()]).run("Weather in Oslo tomorrow?")
    block = h.bodies[2]["messages"][-1]["content"][0]
    assert not block.get("is_error")
    assert json.loads(block["content"]) == answer  # as the model wrote it: aliases kept
    assert result.text == "Cold: -3.5 C." and result.usage.requests == 3


@pytest.mark.asyncio
async def test_a_sub_agent_whose_output_is_a_plain_type_hands_over_its_value(make: Any) -> None:
    h = make(
        tool_reply("counter", {"task": "count"}),
        tool_reply("final_result", {"result": 42}),
        text_reply("42."),
    )
    sub = h.agent(tools=[], output_type=int, name="counter", description="Counts.")
    await h.agent(tools=[sub.as_tool()]).run("How many?")
    assert h.bodies[2]["messages"][-1]["content"][0]["content"] == "42"


@pytest.mark.asyncio
async def test_a_sub_agent_that_pauses_for_approval_tells_the_parent_what_was_not_run(
    make: Any,
) -> None:
    # Without an approve callback the sub-run paused and handed its caller an empty
    # tool_result: the parent's model was told nothing, and the call was never run.
    h = make(
        tool_reply("janitor", {"task": "delete a.txt"}),
        reply("Deleting.", tool_calls=[("delete_file", {"path": "a.txt"}, "toolu_d")]),
        text_reply("It is waiting for approval."),
    )
    sub = h.agent(tools=[delete_file], name="janitor", description="Deletes files.")
    result = await h.agent(tools=[sub.as_tool()]).run("Tidy up")
    block = h.bodies[2]["messages"][-1]["content"][0]
    assert block["is_error"] is True
    assert block["content"].startswith(
        "Not done: the agent 'janitor' stopped to wait for approval of delete_file (toolu_d)"
    )
    assert "Agent(approve=...)" in block["content"]
    assert result.usage.requests == 3  # the sub-run's reply counts in the parent's usage


# -- TurnUsage.tool_calls --------------------------------------------------------------------


@pytest.mark.asyncio
async def test_each_turn_counts_the_tool_calls_it_asked_for(make: Any) -> None:
    h = make(
        reply(tool_calls=[("get_weather", {"city": "Oslo"}), ("no_such_tool", {})]),
        tool_reply("get_weather", {"city": "Rome"}),
        text_reply("Done."),
    )
    finished: list[int] = []

    def on_event(event: AgentEvent) -> None:
        if isinstance(event, TurnFinished):
            finished.append(event.usage.tool_calls)  # known when the turn is reported

    result = await h.agent().run("go", on_event=on_event)
    assert [t.tool_calls for t in result.usage.turns] == [2, 1, 0] == finished
    assert result.usage.tool_calls == 2  # calls run: the unknown tool never was
    saved = RunState.from_dict(json.loads(json.dumps(result.state.to_dict())))
    assert [t.tool_calls for t in saved.usage.turns] == [2, 1, 0]
    assert saved.usage.tool_calls == 2


# -- pause_turn and result.text ----------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
async def test_the_text_of_a_paused_turn_is_part_of_the_answer(make: Any, stream: bool) -> None:
    h = make(
        reply("Let me search.", stop_reason="pause_turn"),
        reply(" Still searching.", stop_reason="pause_turn"),
        text_reply(" Found it."),
    )
    result = await h.agent(tools=[], stream=stream).run("search")
    assert result.text == "Let me search. Still searching. Found it."
    assert result.output == result.text and result.usage.requests == 3
    # A continued turn is one assistant turn: the history stays valid to continue from.
    assert [m["role"] for m in result.messages] == ["user", "assistant"]
    assert [b["text"] for b in result.messages[1]["content"]] == [
        "Let me search.",
        " Still searching.",
        " Found it.",
    ]
    validate_conversation(result.messages)


@pytest.mark.asyncio
async def test_a_paused_turn_that_ends_in_tool_calls_is_not_part_of_the_answer(
    make: Any,
) -> None:
    # The answer is the last turn's text; a paused turn is one turn with its continuation,
    # so text before a tool round is not in it, paused or not.
    h = make(
        reply("Let me search.", stop_reason="pause_turn"),
        tool_reply("get_weather", {"city": "Oslo"}, text="Checking."),
        text_reply("Sunny."),
    )
    result = await h.agent().run("Oslo?")
    assert result.text == "Sunny."


# -- a forced tool_choice after the first tool round -------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("forced", "after"),
    [
        ({"type": "any"}, {"type": "auto"}),
        (
            {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
            {"type": "auto", "disable_parallel_tool_use": True},
        ),
    ],
    ids=["any", "tool"],
)
async def test_a_forced_tool_choice_falls_back_to_auto_after_the_first_tool_round(
    make: Any, forced: dict[str, Any], after: dict[str, Any]
) -> None:
    h = make(
        tool_reply("get_weather", {"city": "Oslo"}),
        tool_reply("get_weather", {"city": "Rome"}),
        text_reply("Both sunny."),
        tool_reply("get_weather", {"city": "Lima"}),
        text_reply("Lima too."),
    )
    agent = h.agent(settings=ModelSettings(tool_choice=forced))
    first = await agent.run("Oslo and Rome?")
    assert first.text == "Both sunny."  # a model that obeys could answer at last
    await agent.run("And Lima?", history=first.messages)
    choices = [b["tool_choice"] for b in h.bodies]
    assert choices == [forced, after, after, forced, after]  # a new run forces again


@pytest.mark.asyncio
async def test_tool_choice_after_tools_keep_sends_the_forced_choice_every_turn(
    make: Any,
) -> None:
    h = make(tool_reply("get_weather", {"city": "Oslo"}), tool_reply("stop_here", {}))
    agent = h.agent(
        settings=ModelSettings(tool_choice={"type": "any"}, tool_choice_after_tools="keep"),
        stop_after_tools=["stop_here"],
    )
    await agent.run("Oslo?")
    assert [b["tool_choice"] for b in h.bodies] == [{"type": "any"}, {"type": "any"}]


# -- a forced tool_choice the request does not offer ------------------------------------------


def test_a_forced_tool_choice_naming_no_tool_of_the_agent_fails_when_it_is_made() -> None:
    # The API refused it with a 400 ("Tool 'get_wether' not found in provided tools"), at the
    # first request of every run.
    typo = ModelSettings(tool_choice={"type": "tool", "name": "get_wether"})
    with pytest.raises(UsageError, match=r"forces the tool `get_wether`.*`get_weather`"):
        Agent(MODEL, tools=[get_weather], settings=typo)
    anything = ModelSettings(extra_params={"tool_choice": {"type": "any"}})
    with pytest.raises(UsageError, match="forces a tool call, but this agent offers no tools"):
        Agent(MODEL, settings=anything)  # no tools at all: nothing to force
    with pytest.raises(UsageError, match="'type': 'required'"):
        Agent(MODEL, tools=[get_weather], settings=ModelSettings(tool_choice={"type": "required"}))


def test_a_forced_tool_choice_may_name_a_server_tool_or_the_output_tool() -> None:
    web = {"type": "web_search_20250305", "name": "web_search"}
    searching = ModelSettings(tool_choice={"type": "tool", "name": "web_search"})
    Agent(MODEL, tools=[web], settings=searching)
    output = ModelSettings(tool_choice={"type": "tool", "name": "final_result"})
    Agent(MODEL, output_type=Forecast, settings=output)


@pytest.mark.asyncio
async def test_a_forced_tool_a_prepare_hook_hid_fails_before_anything_is_sent(make: Any) -> None:
    def hide_on_second_turn(ctx: RunContext[Any], t: Tool) -> Tool | None:
        return t if ctx.turn == 0 else None

    other = Tool.from_schema(
        name="lookup", description="Look up.", input_schema={"type": "object"}, handler=dict
    )
    h = make(tool_reply("get_weather", {"city": "Oslo"}), text_reply("Sunny."))
    forced = {"type": "tool", "name": "get_weather"}
    agent = h.agent(
        tools=[Toolset([get_weather], prepare=hide_on_second_turn), other],
        settings=ModelSettings(tool_choice=forced, tool_choice_after_tools="keep"),
    )
    with pytest.raises(RunError) as caught:
        await agent.run("Oslo?")
    said = str(caught.value.__cause__)
    assert isinstance(caught.value.__cause__, UsageError)
    assert "forces the tool `get_weather`, but turn 1 offers `lookup` (`prepare` hooks" in said
    assert len(h.bodies) == 1  # the turn that offered it was sent; the next one never was
    # The turn it paid for is kept (it was lost with a bare UsageError), valid to go on from.
    kept = caught.value.result.messages
    assert [m["role"] for m in kept] == ["user", "assistant", "user"]
    assert kept[2]["content"][0]["content"] == "Sunny in Oslo"
    validate_conversation(kept)
    assert caught.value.usage.requests == 1


@pytest.mark.asyncio
async def test_a_setup_error_a_later_turn_meets_keeps_the_conversation(make: Any) -> None:
    # A `prepare` hook returning True on turn 1 raised a bare UsageError: turn 0's reply and
    # its tool's result, paid for and run, were lost. "Nothing lost": a RunError carries them.
    def keep_on_later_turns(ctx: RunContext[Any], t: Tool) -> Any:
        return t if ctx.turn == 0 else True

    h = make(tool_reply("get_weather", {"city": "Oslo"}), text_reply("Sunny."))
    agent = h.agent(tools=[Toolset([get_weather], prepare=keep_on_later_turns)])
    with pytest.raises(RunError) as caught:
        await agent.run("Oslo?")
    error = caught.value
    assert isinstance(error.__cause__, UsageError)
    assert "returned True for tool `get_weather`" in str(error)
    assert "The conversation so far is kept" in str(error)
    assert [m["role"] for m in error.messages] == ["user", "assistant", "user"]
    assert error.result.usage.requests == 1 and len(h.bodies) == 1
    # Fixed, the run goes on from what it kept, as the error says: turn 0 is not asked again.
    assert "continue it with agent.run(prompt, history=...)" in str(error)
    fixed = h.agent(tools=[get_weather])
    assert (await fixed.run("Go on.", history=error.messages)).text == "Sunny."
    assert len(h.bodies) == 2 and h.bodies[1]["messages"][2]["content"][0]["content"] == (
        "Sunny in Oslo")


@pytest.mark.asyncio
async def test_a_before_model_rewrite_a_later_turn_breaks_keeps_the_conversation(
    make: Any,
) -> None:
    def warm_later(ctx: RunContext[Any], params: dict[str, Any]) -> dict[str, Any]:
        return params if ctx.turn == 0 else {**params, "temperature": 0.5}

    h = make(tool_reply("get_weather", {"city": "Oslo"}), text_reply("Sunny."))
    agent = h.agent(tools=[get_weather], thinking=2048, max_tokens=4096,
                    hooks=Hooks(before_model=warm_later))
    with pytest.raises(RunError) as caught:
        await agent.run("Oslo?")
    cause = caught.value.__cause__
    assert isinstance(cause, ConversationError) and cause.rule == "sampling_with_thinking"
    assert len(caught.value.messages) == 3 and len(h.bodies) == 1


@pytest.mark.asyncio
async def test_a_setup_error_on_a_held_reply_keeps_the_reply_paid_for(make: Any) -> None:
    # The conversation did not grow (an after_model hook failing holds its reply out of it),
    # but the reply was paid for: a bare UsageError lost it and its usage.
    def check(ctx: RunContext[Any], message: Any) -> None:
        raise UsageError("this hook was given the wrong settings")

    h = make(text_reply("Sunny."))
    with pytest.raises(RunError) as caught:
        await h.agent(hooks=Hooks(after_model=check)).run("Oslo?")
    assert isinstance(caught.value.__cause__, UsageError)
    assert caught.value.result.state.held is not None and caught.value.usage.requests == 1
    assert "runs the hook on it again" in str(caught.value)


@pytest.mark.asyncio
async def test_a_setup_error_before_the_first_request_stays_bare(make: Any) -> None:
    # Nothing was sent, so nothing is lost: the error is the setup's own, to fix.
    def never(ctx: RunContext[Any], t: Tool) -> Any:
        return True

    h = make(text_reply("never"))
    with pytest.raises(UsageError, match="returned True for tool `get_weather`"):
        await h.agent(tools=[Toolset([get_weather], prepare=never)]).run("Oslo?")
    assert h.bodies == []


@pytest.mark.asyncio
async def test_a_relaxed_tool_choice_lets_a_prepare_hook_hide_the_tool(make: Any) -> None:
    def first_turn_only(ctx: RunContext[Any], t: Tool) -> Tool | None:
        return t if ctx.turn == 0 else None

    h = make(tool_reply("get_weather", {"city": "Oslo"}), text_reply("Sunny."))
    agent = h.agent(
        tools=[Toolset([get_weather], prepare=first_turn_only)],
        settings=ModelSettings(tool_choice={"type": "tool", "name": "get_weather"}),
    )
    result = await agent.run("Oslo?")
    assert result.text == "Sunny."
    assert h.bodies[1]["tool_choice"] == {"type": "none"}  # relaxed, then a stand-in's none


def test_tool_choice_after_tools_takes_auto_or_keep() -> None:
    with pytest.raises(UsageError, match="tool_choice_after_tools"):
        ModelSettings(tool_choice_after_tools="always")  # pyright: ignore[reportArgumentType]


# -- server tools in tools= --------------------------------------------------------------------

WEB_SEARCH = {"type": "web_search_20250305", "name": "web_search", "max_uses": 5}


@pytest.mark.asyncio
async def test_server_tool_definitions_go_in_tools_next_to_client_tools(make: Any) -> None:
    h = make(tool_reply("get_weather", {"city": "Oslo"}), text_reply("Sunny, says the web."))
    agent = h.agent(tools=[get_weather, WEB_SEARCH], cache=True)
    result = await agent.run("Oslo?")
    assert result.text == "Sunny, says the web."
    for body in h.bodies:
        names = [t["name"] for t in body["tools"]]
        assert names == ["get_weather", "web_search"]  # server tools follow client tools
        assert {k: v for k, v in body["tools"][1].items() if k != "cache_control"} == WEB_SEARCH
    assert WEB_SEARCH == {"type": "web_search_20250305", "name": "web_search", "max_uses": 5}


@pytest.mark.asyncio
async def test_server_tools_come_before_the_structured_output_tool(make: Any) -> None:
    h = make(tool_reply("final_result", {"city": "Oslo", "degreesCelsius": 1}))
    agent = h.agent(tools=[WEB_SEARCH], output_type=Forecast)
    result = await agent.run("Oslo?")
    assert result.output == Forecast(city="Oslo", degreesCelsius=1)
    assert [t["name"] for t in h.bodies[0]["tools"]] == ["web_search", "final_result"]


def test_a_server_tool_named_like_a_client_tool_is_a_usage_error() -> None:
    clash = {"type": "web_search_20250305", "name": "get_weather"}
    with pytest.raises(UsageError, match="get_weather"):
        Agent(MODEL, tools=[get_weather, clash])
    with pytest.raises(UsageError, match="web_search"):
        Agent(MODEL, tools=[WEB_SEARCH, {**WEB_SEARCH, "max_uses": 1}])


@pytest.mark.asyncio
async def test_a_client_tool_renamed_onto_a_server_tool_fails_before_sending(make: Any) -> None:
    h = make()
    renamed = Toolset([get_weather]).with_prepare(lambda ctx, t: t.replace(name="web_search"))
    with pytest.raises(UsageError, match="web_search"):
        await h.agent(tools=[renamed, WEB_SEARCH]).run("Oslo?")
    assert h.bodies == []


@pytest.mark.parametrize(
    ("bad", "hint"),
    [
        ({"name": "web_search"}, "type"),
        ({"type": "web_search_20250305"}, "name"),
        ({"name": "lookup", "input_schema": {"type": "object"}}, "Tool.from_schema"),
        ({"type": "custom", "name": "lookup"}, "Tool.from_schema"),
    ],
)
def test_a_malformed_server_tool_definition_says_what_is_wrong(
    bad: dict[str, Any], hint: str
) -> None:
    with pytest.raises(UsageError, match=hint):
        Agent(MODEL, tools=[bad])


def test_tools_in_extra_params_are_a_usage_error_pointing_at_tools() -> None:
    with pytest.raises(UsageError, match=r"tools=\[") as caught:
        ModelSettings(extra_params={"tools": [WEB_SEARCH]})
    assert "extra_params" in str(caught.value)


# -- lone surrogates ---------------------------------------------------------------------------
# `"a\ud800b"` (escaped) is valid JSON, which a model or a gateway may send; UTF-8 cannot carry
# the character as it is, and a tool's text may hold one too (an OS file name).


@tool
def look(q: str) -> dict[str, str]:
    """Look something up.

    Args:
        q: What to look up.
    """
    return {"q": q, "found": "caf\udce9"}


@tool
def listing() -> str:
    """The folder's files."""
    return "caf\udce9.txt"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "context",
    [None, Trim(trigger_tokens=100_000), ServerEditing(trigger_tokens=100_000)],
    ids=["plain", "trim", "server-editing"],
)
@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
async def test_a_reply_holding_a_lone_surrogate_is_kept_and_sent_back_as_valid_json(
    stream: bool, context: Trim | ServerEditing | None
) -> None:
    first = reply("a\ud800b", tool_calls=[("look", {"q": "x\udfffy"}), ("listing", {})])
    with FakeServer([first, text_reply("b\udbffc"), text_reply("Again.")]) as server:
        async with AsyncClient(base_url=server.base_url, api_key="sk-test") as client:
            agent = Agent(MODEL, client=client, tools=[look, listing], stream=stream,
                          context=context)
            result = await agent.run("Look")
            again = await agent.run("And?", history=result.messages)  # the history goes on
    assert result.text == "b\udbffc" and again.text == "Again."
    assert server.requests[2].messages[:-1] == result.messages
    body = server.requests[1].body  # None if the request were not JSON
    assert body is not None
    said, answered = body["messages"][1:]
    assert said["content"][0] == {"type": "text", "text": "a\ud800b"}
    assert said["content"][1]["input"] == {"q": "x\udfffy"}
    looked, listed = answered["content"]
    assert not looked.get("is_error") and not listed.get("is_error")
    assert json.loads(looked["content"]) == {"q": "x\udfffy", "found": "caf\udce9"}
    assert listed["content"] == "caf\\udce9.txt"  # spelled out: no lone surrogate of ours sent


class Place(BaseModel):
    city: str


@pytest.mark.asyncio
@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
async def test_structured_output_holding_a_lone_surrogate_reaches_the_parent_agent(
    make: Any, stream: bool
) -> None:
    h = make(
        tool_reply("finder", {"task": "where?"}),
        reply(tool_calls=[("final_result", {"city": "Os\ud800lo"})]),  # the sub-agent's
        text_reply("Done."),
    )
    sub = h.agent(tools=[], name="finder", description="Finds places.", output_type=Place,
                  stream=stream)
    result = await h.agent(tools=[sub.as_tool()], stream=stream).run("Find it")
    assert result.text == "Done."
    handed = h.bodies[2]["messages"][-1]["content"][0]
    assert not handed.get("is_error")
    assert json.loads(handed["content"]) == {"city": "Os\ud800lo"}
