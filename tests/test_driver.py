"""The driver carries out the engine's steps: one retry budget per model call, sleeps on the
agent's clock, the deadline, a turn's tools, the request checked after hooks, and who owns
the client."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from agentkit import (
    Agent,
    AsyncClient,
    ConversationError,
    Hooks,
    LimitExceeded,
    Limits,
    ModelSettings,
    RunContext,
    RunError,
    RunState,
    Tool,
    Toolset,
    tool,
)
from agentkit.errors import OverloadedError
from agentkit.testing import (
    FakeClock,
    FakeServer,
    Fault,
    ScriptedTransport,
    reply,
    text_reply,
    tool_reply,
)

MODEL = "claude-sonnet-4-5"


@tool
def ping() -> str:
    """Answer pong."""
    return "pong"


def client_for(transport: ScriptedTransport, **options: Any) -> AsyncClient:
    return AsyncClient(api_key="sk-test", transport=transport, **options)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.asyncio
async def test_one_model_call_is_sent_at_most_model_retries_plus_one_times(stream: bool) -> None:
    # The client would retry 5 times on its own; in a run the engine is the only retrier.
    transport = ScriptedTransport([Fault.overloaded()] * 3)
    clock = FakeClock()
    async with client_for(transport, max_retries=5) as client:
        agent = Agent(MODEL, client=client, stream=stream, model_retries=2, clock=clock)
        with pytest.raises(RunError) as caught:
            await agent.run("hi")
    assert isinstance(caught.value.__cause__, OverloadedError)
    assert len(transport.requests) == 3 and len(clock.sleeps) == 2
    transport.assert_consumed()


@pytest.mark.asyncio
async def test_http_and_mid_stream_failures_count_against_the_same_budget() -> None:
    steps = [
        Fault.overloaded(),
        Fault.stream_error(text_reply("lost"), error_type="overloaded_error"),
        text_reply("ok"),
    ]
    transport = ScriptedTransport(steps)
    async with client_for(transport) as client:
        agent = Agent(MODEL, client=client, stream=True, model_retries=1, clock=FakeClock())
        with pytest.raises(RunError):
            await agent.run("hi")
    assert len(transport.requests) == 2


@pytest.mark.asyncio
async def test_a_replayed_run_sleeps_the_same_back_offs() -> None:
    def sleeps(seed: int) -> list[float]:
        transport = ScriptedTransport([Fault.overloaded(), Fault.server_error(), text_reply("ok")])
        clock = FakeClock()
        agent = Agent(MODEL, client=client_for(transport), clock=clock)
        state = RunState(messages=[{"role": "user", "content": "hi"}], seed=seed)
        assert agent.run_sync(state=state).text == "ok"
        return clock.sleeps

    first = await asyncio.to_thread(sleeps, 11)
    assert first == await asyncio.to_thread(sleeps, 11) and len(first) == 2


@pytest.mark.asyncio
async def test_the_deadline_is_read_from_the_agents_clock() -> None:
    clock = FakeClock()

    @tool
    def slow() -> str:
        """Takes a long time (on the fake clock)."""
        clock.advance(11)
        return "done"

    transport = ScriptedTransport([tool_reply("slow", {})])
    async with client_for(transport) as client:
        agent = Agent(MODEL, client=client, tools=[slow], clock=clock, limits=Limits(timeout=10))
        with pytest.raises(LimitExceeded) as caught:
            await agent.run("go")
    assert caught.value.limit == "timeout"
    assert caught.value.messages[-1]["content"][0]["content"] == "done"  # the result is kept
    assert len(transport.requests) == 1


@pytest.mark.asyncio
async def test_a_tool_offered_on_a_turn_can_be_called_from_that_turns_reply() -> None:
    listed: list[int] = []

    def first_turn_only(ctx: RunContext[Any], t: Tool) -> Tool | None:
        listed.append(ctx.turn)
        return t if ctx.turn == 0 else None

    transport = ScriptedTransport([tool_reply("ping", {}), text_reply("done")])
    async with client_for(transport) as client:
        agent = Agent(MODEL, client=client, tools=[Toolset([ping], prepare=first_turn_only)])
        result = await agent.run("ping it")
    assert result.text == "done"
    assert result.messages[2]["content"][0]["content"] == "pong"
    later = transport.requests[1].body  # the strict fake, as the API, wants tools defined
    assert [t["name"] for t in later["tools"]] == ["ping"]
    assert later["tools"][0]["description"] != transport.requests[0].body["tools"][0]["description"]
    assert later["tool_choice"] == {"type": "none"}
    assert listed == [0, 1]  # once per turn


@pytest.mark.asyncio
async def test_an_agent_without_tools_continues_a_history_with_tool_calls() -> None:
    # Sent without `tools`, the API refused the history: "Requests which include `tool_use`
    # or `tool_result` blocks must define tools."
    transport = ScriptedTransport(
        [tool_reply("ping", {}), text_reply("pinged"), text_reply("ok"), text_reply("hi")]
    )
    auto = ModelSettings(tool_choice={"type": "auto"})
    async with client_for(transport) as client:
        first = await Agent(MODEL, client=client, tools=[ping]).run("ping it")
        summarizer = Agent(MODEL, client=client, settings=auto)
        result = await summarizer.run("Summarize.", history=first.messages)
        await summarizer.run("Hello.")
    assert result.text == "ok"
    sent = transport.requests[2].body
    assert [t["name"] for t in sent["tools"]] == ["ping"]
    assert sent["tool_choice"] == {"type": "none"}
    assert sent["messages"][:-1] == first.messages  # the history itself, unchanged
    fresh = transport.requests[3].body
    assert "tools" not in fresh and "tool_choice" not in fresh  # no tools: no choice among them


@pytest.mark.asyncio
async def test_a_binding_model_is_asked_to_drop_thinking_a_changed_turn_unbinds() -> None:
    # Opus 5.5 binds its thinking blocks to the tools and turns before them: a turn that hides
    # a tool (a prepare hook) changes that prefix, a 400 unless the request says to drop them.
    def first_turn_only(ctx: RunContext[Any], t: Any) -> Any:
        return t if ctx.turn == 0 else None

    transport = ScriptedTransport(
        [reply(tool_calls=[("ping", {})], thinking="which tool?"), text_reply("done")]
    )
    async with client_for(transport) as client:
        agent = Agent("claude-opus-5-5", client=client,
                      tools=[Toolset([ping], prepare=first_turn_only)])
        assert (await agent.run("ping it")).text == "done"
    first, second = transport.requests
    assert "thinking" not in first.body and "anthropic-beta" not in first.headers
    assert second.body["thinking"]["block_binding"] == {"prefix_mismatch_behavior": "drop_block"}
    assert "thinking-binding-controls-2026-08-01" in second.headers["anthropic-beta"]


@pytest.mark.asyncio
async def test_a_before_model_hook_cannot_send_a_conversation_the_validator_rejects() -> None:
    def drop_the_prompt(ctx: RunContext[Any], params: dict[str, Any]) -> dict[str, Any]:
        return {**params, "messages": [{"role": "assistant", "content": "hello"}]}

    transport = ScriptedTransport([text_reply("never")])
    async with client_for(transport) as client:
        agent = Agent(MODEL, client=client, hooks=Hooks(before_model=drop_the_prompt))
        with pytest.raises(ConversationError) as caught:
            await agent.run("hi")
    assert caught.value.rule == "first_message_user"
    assert transport.requests == []


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("model", "thinking", "change", "rule"),
    [
        ("claude-sonnet-4-6", 2048, {"temperature": 0.2}, "sampling_with_thinking"),
        ("claude-sonnet-4-6", 2048, {"max_tokens": 2048}, "thinking_budget_max_tokens"),
        ("claude-sonnet-4-6", 2048, {"tool_choice": {"type": "any"}},
         "forced_tool_choice_with_thinking"),
        ("claude-opus-4-8", None, {"thinking": {"type": "enabled", "budget_tokens": 2048}},
         "thinking_type_unsupported"),
        ("claude-sonnet-4-6", None, {"tool_choice": {"type": "tool", "name": "pong"}},
         "tool_choice_not_offered"),
    ],
    ids=["temperature", "max_tokens", "forced", "enabled", "unoffered"],
)
async def test_a_before_model_hooks_request_is_held_to_the_request_rules(
    model: str, thinking: int | None, change: dict[str, Any], rule: str
) -> None:
    # Only the conversation rules were checked on a hook's request: the API answered a 400.
    def rewrite(ctx: RunContext[Any], params: dict[str, Any]) -> dict[str, Any]:
        return {**params, **change}

    transport = ScriptedTransport([text_reply("never")])
    async with client_for(transport) as client:
        agent = Agent(model, client=client, tools=[ping], max_tokens=4096, thinking=thinking,
                      hooks=Hooks(before_model=rewrite))
        with pytest.raises(ConversationError) as caught:
            await agent.run("hi")
    assert caught.value.rule == rule and caught.value.index is None
    assert "the before_model hook returned" in str(caught.value)
    assert transport.requests == []


@pytest.mark.asyncio
async def test_a_before_model_hook_that_keeps_the_rules_sends_its_request() -> None:
    def pin_it(ctx: RunContext[Any], params: dict[str, Any]) -> None:
        params["tool_choice"] = {"type": "tool", "name": "ping"}  # changed in place

    def lower(ctx: RunContext[Any], params: dict[str, Any]) -> dict[str, Any]:
        return {**params, "max_tokens": 2048}

    transport = ScriptedTransport([text_reply("done"), tool_reply("ping", {}), text_reply("ok")])
    async with client_for(transport) as client:
        agent = Agent("claude-sonnet-4-5", client=client, tools=[ping], max_tokens=4096,
                      thinking=2048, settings=ModelSettings(interleaved_thinking=True),
                      hooks=Hooks(before_model=lower))
        assert (await agent.run("hi")).text == "done"  # interleaved: the budget may reach it
        pinned = Agent(MODEL, client=client, tools=[ping], hooks=Hooks(before_model=pin_it))
        assert (await pinned.run("ping it")).text == "ok"
    assert transport.requests[0].body["max_tokens"] == 2048
    assert transport.requests[1].body["tool_choice"] == {"type": "tool", "name": "ping"}


@pytest.mark.asyncio
@pytest.mark.parametrize("returned", [False, "skip", ["x"]])
async def test_a_before_model_hook_returning_no_request_fails_naming_it_and_sends_nothing(
    returned: object,
) -> None:
    # False (meant as "do not send") was ignored and the request sent; a str or a list failed
    # with "'str' object has no attribute 'get'", naming no hook.
    def gate(ctx: RunContext[Any], params: dict[str, Any]) -> Any:
        return returned

    transport = ScriptedTransport([text_reply("never")])
    async with client_for(transport) as client:
        agent = Agent(MODEL, client=client, hooks=Hooks(before_model=gate))
        with pytest.raises(RunError, match=rf"the before_model hook .*gate returned a "
                           rf"{type(returned).__name__}: return a dict to replace the request "
                           r"body, or None to send it as it is \(raise to stop the run\). "
                           r"Nothing was sent"):
            await agent.run("hi")
    assert transport.requests == []


@pytest.mark.asyncio
@pytest.mark.parametrize("durable", [False, True], ids=["memory", "durable"])
@pytest.mark.parametrize("returned", ["object", "cycle", "no_block"])
async def test_an_after_tool_hook_returning_what_is_no_json_result_fails_naming_the_hook(
    tmp_path: Any, durable: bool, returned: str
) -> None:
    # A result the hook replaced with what is not JSON failed the run with the encoder's bare
    # "TypeError: Type is not JSON serializable" (the journal's, or the request's), naming
    # neither the hook nor the call; one that answered no call failed with a KeyError.
    from agentkit import SQLiteStore

    def after(ctx: RunContext[Any], call: dict[str, Any], block: dict[str, Any]) -> Any:
        if returned == "no_block":
            return {"type": "tool_result", "content": "no id"}
        if returned == "cycle":  # a bare "ValueError: Circular reference detected"
            cycle: dict[str, Any] = {"type": "text", "text": "t"}
            cycle["self"] = cycle
            return {**block, "content": [cycle]}
        return {**block, "content": [{"type": "text", "text": "t", "at": object()}]}

    transport = ScriptedTransport([reply(tool_calls=[("ping", {}, "toolu_p")]), text_reply("done")])
    store = {"run_id": "r", "store": SQLiteStore(tmp_path / "runs.db")} if durable else {}
    async with client_for(transport) as client:
        agent = Agent(MODEL, client=client, tools=[ping], hooks=Hooks(after_tool=after))
        with pytest.raises(RunError, match=r"the after_tool hook returned, for call toolu_p of "
                           r"tool `ping`, a (tool_result that cannot be sent as JSON|dict that "
                           r"is no tool_result block for this call)") as caught:
            await agent.run("ping it", **store)
    assert isinstance(caught.value.__cause__, TypeError)
    assert "It must return None" in str(caught.value)


@pytest.mark.asyncio
@pytest.mark.parametrize("returned", [False, "deny", True, ["x"]])
async def test_a_before_tool_hook_returning_no_verdict_fails_naming_it_and_runs_nothing(
    returned: object,
) -> None:
    # Anything but a dict, a Deny or None was ignored: a hook returning False to refuse a call
    # let it run.
    ran: list[str] = []

    @tool
    def wipe() -> str:
        """Wipe the disk."""
        ran.append("wipe")
        return "wiped"

    def before(ctx: RunContext[Any], call: dict[str, Any]) -> Any:
        return returned

    transport = ScriptedTransport([reply(tool_calls=[("wipe", {}, "toolu_w")]), text_reply("x")])
    async with client_for(transport) as client:
        agent = Agent(MODEL, client=client, tools=[wipe], hooks=Hooks(before_tool=before))
        with pytest.raises(RunError, match=r"the before_tool hook returned .* for call toolu_w "
                           r"of tool `wipe`: return Deny\(reason\) to refuse the call") as caught:
            await agent.run("wipe it")
    assert isinstance(caught.value.__cause__, TypeError) and ran == []
    assert len(transport.requests) == 1


@pytest.mark.asyncio
async def test_an_after_tool_hook_s_block_is_kept_as_the_json_it_is_sent_as() -> None:
    # In memory a tuple stayed a tuple, in a durable run's journal (and a resume) a list.
    def after(ctx: RunContext[Any], call: dict[str, Any], block: dict[str, Any]) -> Any:
        return {**block, "content": [{"type": "text", "text": "pong"}], "at": (1, 2)}

    transport = ScriptedTransport([tool_reply("ping", {}), text_reply("done")])
    async with client_for(transport) as client:
        agent = Agent(MODEL, client=client, tools=[ping], hooks=Hooks(after_tool=after))
        result = await agent.run("ping it")
    assert result.messages[2]["content"][0]["at"] == [1, 2]


def test_an_agent_without_a_client_runs_under_two_event_loops_in_a_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with FakeServer([text_reply("one"), text_reply("two")]) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
        agent = Agent(MODEL)
        assert asyncio.run(agent.run("first")).text == "one"
        assert asyncio.run(agent.run("second")).text == "two"


class Guard:
    """An `after_model` hook that rejects replies while `failing` holds, recording what it
    was given each time."""

    def __init__(self) -> None:
        self.failing = True
        self.seen: list[tuple[int, int, int, str | None]] = []

    def __call__(self, ctx: RunContext[Any], message: Any) -> None:
        self.seen.append((ctx.turn, len(ctx.messages), ctx.usage.requests, message.id))
        if self.failing:
            raise ValueError("the moderation service timed out")


def charging(charged: list[str]) -> Tool:
    @tool
    def charge(order: int) -> str:
        """Charge an order."""
        charged.append(f"charge {order}")
        return f"charged {order}"

    return charge


def saved(state: RunState) -> RunState:
    return RunState.from_dict(json.loads(json.dumps(state.to_dict())))


@pytest.mark.asyncio
async def test_a_reply_an_after_model_hook_failed_on_is_kept_and_checked_again_given_again() -> (
    None
):
    # The hook ran before the reply was recorded, so RunError held neither the reply nor its
    # usage, and state= asked the model again: a reply paid for twice, maybe answered otherwise.
    # Now it is held (counted once); given again the hook runs on it again, as it was given it.
    guard, charged = Guard(), list[str]()
    first = ScriptedTransport([reply(tool_calls=[("charge", {"order": 1}, "toolu_1")])])

    def agent(transport: ScriptedTransport) -> Agent[Any]:
        return Agent(MODEL, tools=[charging(charged)], client=client_for(transport),
                     hooks=Hooks(after_model=guard))

    with pytest.raises(RunError) as failed:
        await agent(first).run("Charge order 1")
    error = failed.value
    assert error.usage.requests == 1 and [m["role"] for m in error.messages] == ["user"]
    assert error.result is not None and error.result.state.held is not None
    assert "agent.run(state=error.result.state)" in str(error)

    none = ScriptedTransport([])  # a guardrail that rejects a reply keeps rejecting it
    with pytest.raises(RunError) as again:
        await agent(none).run(state=saved(error.result.state))
    assert none.requests == [] and again.value.usage.requests == 1 and charged == []
    assert again.value.result is not None

    guard.failing = False
    rest = ScriptedTransport([text_reply("Charged.")])
    done = await agent(rest).run(state=saved(again.value.result.state))
    assert done.text == "Charged." and charged == ["charge 1"] and len(rest.requests) == 1
    assert done.usage.requests == 2 and done.state.held is None
    assert done.messages[1]["content"][0]["id"] == "toolu_1"
    assert guard.seen[:3] == [guard.seen[0]] * 3 and guard.seen[0][:3] == (0, 1, 0)


@pytest.mark.asyncio
async def test_a_cancelled_after_model_hook_keeps_the_reply_in_the_state_it_was_given() -> None:
    # Cancelled in the hook (a caller's timeout), the run's state held no reply: given again,
    # it asked the model again.
    entered, checked = asyncio.Event(), list[str]()

    async def slow(ctx: RunContext[Any], message: Any) -> None:
        checked.append(message.id)
        if len(checked) == 1:
            entered.set()
            await asyncio.Event().wait()  # the moderation service never answers

    def agent(transport: ScriptedTransport) -> Agent[Any]:
        return Agent(MODEL, client=client_for(transport), hooks=Hooks(after_model=slow))

    state = RunState(messages=[{"role": "user", "content": "hi"}])
    run = asyncio.ensure_future(agent(ScriptedTransport([text_reply("Fine.")])).run(state=state))
    await entered.wait()
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert state.held is not None and state.usage.requests == 1 and len(state.messages) == 1
    none = ScriptedTransport([])
    done = await agent(none).run(state=saved(state))
    assert done.text == "Fine." and none.requests == [] and done.usage.requests == 1
    assert checked == [checked[0]] * 2


@pytest.mark.asyncio
async def test_a_timeout_in_an_after_model_hook_keeps_the_reply_in_limit_exceeded() -> None:
    # The deadline cancelled the hook: LimitExceeded held no reply, and state= asked again.
    # (The deadline is a real wait here: nothing else ends a hook that never returns.)
    checked: list[str] = []

    async def slow(ctx: RunContext[Any], message: Any) -> None:
        checked.append(message.id)
        if len(checked) == 1:
            await asyncio.Event().wait()  # the moderation service never answers

    def agent(transport: ScriptedTransport) -> Agent[Any]:
        return Agent(MODEL, client=client_for(transport), hooks=Hooks(after_model=slow),
                     limits=Limits(timeout=1))

    with pytest.raises(LimitExceeded) as hit:
        await agent(ScriptedTransport([text_reply("Fine.")])).run("hi")
    assert hit.value.limit == "timeout" and hit.value.usage.requests == 1
    assert hit.value.result is not None and hit.value.result.state.held is not None
    none = ScriptedTransport([])
    done = await agent(none).run(state=saved(hit.value.result.state))
    assert done.text == "Fine." and none.requests == [] and done.usage.requests == 1
    assert checked == [checked[0]] * 2
