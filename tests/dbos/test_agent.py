"""`DBOSAgent` on a real DBOS (SQLite and Postgres): a run is a workflow whose model calls,
tool calls and back-offs are steps; an id that has a workflow is attached to; a replay
(`DBOS.fork_workflow` copies a workflow's recorded steps up to one, then runs it again)
repeats no recorded step, decides the same retries, and never runs again a non-idempotent
call whose started mark was recorded by an earlier execution."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from dbos import DBOS, WorkflowHandleAsync
from dbos._error import DBOSAwaitedWorkflowCancelledError

from agentkit import Agent, AsyncClient, Hooks, Limits, RunContext, RunError, tool
from agentkit._run.replay import INTERRUPTED
from agentkit.context import Compaction
from agentkit.dbos import DBOSAgent
from agentkit.errors import (
    LimitExceeded,
    OverloadedError,
    RateLimitError,
    RunMismatchError,
    UsageError,
)
from agentkit.testing import FakeClock, Fault, FunctionModel, ScriptedTransport, reply, text_reply

PROMPT = "Charge the open orders"


class Orders:
    """An agent with an idempotent and a non-idempotent tool, its side effects counted."""

    def __init__(self, script: list[Any], *, approval: bool = False, **options: Any) -> None:
        self.effects: list[tuple[str, str | None]] = []
        self.transport = ScriptedTransport(script)

        @tool(idempotent=True)
        async def lookup(ctx: RunContext[None], key: str) -> str:
            """Look a value up (read-only)."""
            self.effects.append(("lookup", ctx.idempotency_key))
            return f"value-{key}"

        @tool(requires_approval=approval)
        async def charge(ctx: RunContext[None], order: int) -> str:
            """Charge an order."""
            self.effects.append(("charge", ctx.idempotency_key))
            return f"charged order {order}"

        client = AsyncClient(api_key="sk-test", transport=self.transport)
        agent = Agent("claude-sonnet-4-5", tools=[lookup, charge], client=client, **options)
        self.durable = DBOSAgent(agent, name=f"orders-{uuid.uuid4().hex[:8]}")


def tools_then(text: str = "All charged.") -> list[Any]:
    calls = [("lookup", {"key": "a"}), ("charge", {"order": 1})]
    return [reply(tool_calls=calls), text_reply(text)]


async def step_names(workflow_id: str) -> list[str]:
    return [s["function_name"] for s in await DBOS.list_workflow_steps_async(workflow_id)]


@pytest.mark.asyncio
async def test_each_model_call_and_tool_call_is_a_step(launched: str) -> None:
    orders = Orders(tools_then())
    result = await orders.durable.run(PROMPT, workflow_id="w-steps")

    assert result.text == "All charged."
    assert await step_names("w-steps") == [
        "agentkit.model",
        "agentkit.tool_started",  # the started mark: before the non-idempotent call runs
        "agentkit.tool:lookup",
        "agentkit.tool:charge",
        "agentkit.model",
    ]
    calls = [b["id"] for b in result.messages[1]["content"] if b["type"] == "tool_use"]
    assert sorted(orders.effects) == [
        ("charge", f"w-steps:{calls[1]}"), ("lookup", f"w-steps:{calls[0]}")
    ]
    assert result.usage.requests == 2


@pytest.mark.asyncio
async def test_the_same_workflow_id_attaches_instead_of_running_again(launched: str) -> None:
    orders = Orders(tools_then())
    first = await orders.durable.run(PROMPT, workflow_id="w-once")
    again = await orders.durable.run(PROMPT, workflow_id="w-once")
    attached = await orders.durable.run(workflow_id="w-once")  # no prompt: attach only

    assert again.text == attached.text == first.text
    assert again.messages == first.messages
    assert len(orders.transport.requests) == 2  # no model call after the first run
    assert len(orders.effects) == 2
    assert len(await DBOS.list_workflows_async(workflow_ids=["w-once"])) == 1


@pytest.mark.asyncio
async def test_a_running_workflow_is_attached_to(launched: str) -> None:
    orders = Orders(tools_then())
    first, second = await asyncio.gather(
        orders.durable.run(PROMPT, workflow_id="w-racing"),
        orders.durable.run(PROMPT, workflow_id="w-racing"),
    )
    assert first.messages == second.messages
    assert len(orders.transport.requests) == 2
    assert len(orders.effects) == 2


@pytest.mark.asyncio
async def test_an_id_used_for_another_prompt_is_refused(launched: str) -> None:
    orders = Orders(tools_then())
    await orders.durable.run(PROMPT, workflow_id="w-taken")
    with pytest.raises(RunMismatchError):
        await orders.durable.run("Refund every order", workflow_id="w-taken")
    with pytest.raises(UsageError, match="no run 'w-none'"):
        await orders.durable.run(workflow_id="w-none")


@pytest.mark.asyncio
async def test_a_retry_back_off_is_a_durable_sleep_and_replays_the_same(launched: str) -> None:
    orders = Orders([Fault.rate_limit(retry_after=0.01), text_reply("Fine."), text_reply("Again.")])
    result = await orders.durable.run(PROMPT, workflow_id="w-retry")
    assert result.text == "Fine."
    assert await step_names("w-retry") == ["agentkit.model", "DBOS.sleep", "agentkit.model"]

    # Replayed up to the second call: the recorded 429 must lead to the same back-off.
    fork = await DBOS.fork_workflow_async("w-retry", 3)
    outcome = await fork.get_result()
    assert outcome["state"]["answer"] == "Again."
    assert len(orders.transport.requests) == 3  # the failed call was not sent again
    assert await step_names(fork.get_workflow_id()) == await step_names("w-retry")


@pytest.mark.asyncio
async def test_replay_never_reruns_a_non_idempotent_call_marked_started(launched: str) -> None:
    orders = Orders([*tools_then(), text_reply("Checked.")])
    await orders.durable.run(PROMPT, workflow_id="w-marked")

    # Replayed from the charge's own step: its started mark (step 2) and the lookup
    # (step 3) are recorded, the charge has no output, as after a crash in the call.
    fork = await DBOS.fork_workflow_async("w-marked", 4)
    outcome = await fork.get_result()

    assert outcome["state"]["answer"] == "Checked."
    assert sorted(name for name, _ in orders.effects) == ["charge", "lookup"]  # none again
    last = orders.transport.requests[-1].body["messages"][-1]["content"]
    assert last[0]["content"] == "value-a"
    assert last[1]["is_error"] is True
    assert last[1]["content"] == INTERRUPTED


@pytest.mark.asyncio
async def test_replay_reruns_an_idempotent_call_with_the_same_key(launched: str) -> None:
    orders = Orders([*tools_then(), text_reply("Checked.")])
    await orders.durable.run(PROMPT, workflow_id="w-idem")

    fork = await DBOS.fork_workflow_async("w-idem", 3)  # the lookup's step onwards
    await fork.get_result()

    lookups = [key for name, key in orders.effects if name == "lookup"]
    assert len(lookups) == 2
    call = lookups[0].split(":")[1]
    assert lookups[1] == f"{fork.get_workflow_id()}:{call}"  # the run's id, the same call
    # The charge had not begun (the lookup's step came first), but its mark is recorded: it
    # counts as interrupted, erring on the side of never repeating it.
    assert [name for name, _ in orders.effects].count("charge") == 1
    last = orders.transport.requests[-1].body["messages"][-1]["content"]
    assert last[1]["is_error"] is True and last[1]["content"] == INTERRUPTED


@pytest.mark.asyncio
async def test_an_approval_is_a_step_not_asked_again_on_replay(launched: str) -> None:
    asked: list[str] = []

    def approve(ctx: RunContext[None], call: dict[str, Any]) -> bool:
        asked.append(call["id"])
        return True

    orders = Orders([*tools_then(), text_reply("Again.")], approval=True, approve=approve)
    result = await orders.durable.run(PROMPT, workflow_id="w-approve")
    names = await step_names("w-approve")
    assert result.text == "All charged."
    assert names[:2] == ["agentkit.model", "agentkit.approve"]

    fork = await DBOS.fork_workflow_async("w-approve", len(names))  # only the last call live
    assert (await fork.get_result())["state"]["answer"] == "Again."
    assert len(asked) == 1
    assert len(orders.effects) == 2


@pytest.mark.asyncio
async def test_a_limit_is_raised_and_raised_again_on_attach(launched: str) -> None:
    orders = Orders(tools_then(), limits=Limits(max_turns=1))
    with pytest.raises(LimitExceeded) as first:
        await orders.durable.run(PROMPT, workflow_id="w-limit")
    with pytest.raises(LimitExceeded) as again:
        await orders.durable.run(PROMPT, workflow_id="w-limit")
    assert first.value.limit == again.value.limit == "max_turns"
    assert again.value.result is not None
    assert again.value.result.messages == first.value.result.messages


def test_two_durable_agents_may_not_share_a_name() -> None:
    agent = Agent("claude-sonnet-4-5")
    DBOSAgent(agent, name="twice")
    with pytest.raises(UsageError, match="already exists"):
        DBOSAgent(agent, name="twice")


def test_a_model_error_is_recorded_as_json_and_rebuilt_the_same() -> None:
    from agentkit._api.sansio import retryable
    from agentkit.dbos._effects import error_from_record, error_record

    error = RateLimitError("slow down", status_code=429, retry_after=2.0, request_id="req_1")
    record = error_record(error)
    rebuilt = error_from_record(record)

    assert type(rebuilt) is RateLimitError
    assert (rebuilt.status_code, rebuilt.retry_after, rebuilt.request_id) == (429, 2.0, "req_1")
    assert retryable(rebuilt) and str(rebuilt) == str(error)
    assert type(error_from_record({"type": "os.system", "fields": {}})).__name__ == (
        "APIConnectionError"
    )


def test_an_error_field_holding_a_lone_surrogate_is_recorded() -> None:
    # An error body may hold an escaped "\ud800" (valid JSON): the field was dropped, so a
    # replay raised an error without its body (and with another message).
    from agentkit.dbos._effects import error_from_record, error_record

    body = {"type": "error", "error": {"type": "rate_limit_error", "message": "slow a\ud800b"}}
    error = RateLimitError("slow a\ud800b", status_code=429, body=body, request_id="req_1")
    record = error_record(error)
    assert record["fields"]["body"] == body and record["fields"]["message"] == "slow a\ud800b"
    rebuilt = error_from_record(record)
    assert (rebuilt.body, str(rebuilt)) == (body, str(error))
    not_json = RateLimitError("x", status_code=429, body={"x": object()})
    assert "body" not in error_record(not_json)["fields"]  # what is not JSON is still left out


@pytest.mark.asyncio
async def test_a_reply_holding_a_lone_surrogate_is_recorded_and_replayed_as_it_came(
    launched: str,
) -> None:
    script = [reply("Looking a\ud800b.", tool_calls=[("lookup", {"key": "\udfff"})]),
              text_reply("Done \ud800."), text_reply("Again.")]
    orders = Orders(script)
    result = await orders.durable.run(PROMPT, workflow_id="w-odd")
    assert result.text == "Done \ud800."

    fork = await DBOS.fork_workflow_async("w-odd", 3)  # the reply and the tool from the database
    assert (await fork.get_result())["state"]["answer"] == "Again."
    assert len(orders.effects) == 1
    sent = orders.transport.requests[-1].body["messages"]
    assert sent[1]["content"][0]["text"] == "Looking a\ud800b."
    assert sent[1]["content"][1]["input"] == {"key": "\udfff"}
    assert sent[2]["content"][0]["content"] == "value-\\udfff"  # a tool's text: escaped


class Counted(ScriptedTransport):
    """Serves the script, and answers `count_tokens` with `tokens` (counting the counts)."""

    tokens = 1_000_000
    counts = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/count_tokens"):
            self.counts += 1
            return httpx.Response(200, json={"input_tokens": self.tokens})
        return await super().handle_async_request(request)


def reader(body: dict[str, Any]) -> Any:
    """Reads pages 0, 1, 2 (each result a long page), then answers; summarizes when asked."""
    done = sum(1 for m in body["messages"] for b in m["content"] if b.get("type") == "tool_result")
    summarized = "Read pages" in str(body["messages"])
    if body.get("tool_choice") == {"type": "none"}:
        return "<summary>Read pages so far.</summary>"
    if done >= 3 or (summarized and done >= 1):
        return text_reply("All read.")
    return reply(tool_calls=[("page", {"n": done}, f"toolu_{done}")])


@pytest.mark.asyncio
async def test_a_token_count_is_a_step_so_a_replay_decides_the_same(launched: str) -> None:
    transport = Counted(FunctionModel(reader))

    @tool(idempotent=True)
    def page(n: int) -> str:
        """Read page n."""
        return f"page {n}: " + "figures " * 500

    client = AsyncClient(api_key="sk-test", transport=transport)
    agent = Agent("claude-sonnet-4-5", tools=[page], client=client,
                  context=Compaction(trigger_tokens=2_000, keep_turns=1))
    durable = DBOSAgent(agent, name=f"reader-{uuid.uuid4().hex[:8]}")
    first = await durable.run("Read the report.", workflow_id="w-count")
    steps = await step_names("w-count")
    assert "agentkit.count_tokens" in steps  # the count the summary was decided on
    assert first.state.context.get("compactions") == 1
    counted, sent = transport.counts, len(transport.requests)

    # Replayed whole: the count API would now answer otherwise (another tokenizer, a gateway
    # without it); the recorded count decides, as it did, and nothing is sent again.
    transport.tokens = 10
    fork = await DBOS.fork_workflow_async("w-count", len(steps) + 1)  # every step recorded
    outcome = await fork.get_result()
    assert outcome["state"]["messages"] == first.messages
    assert outcome["state"]["usage"] == first.state.usage.to_dict()
    assert transport.counts == counted and len(transport.requests) == sent
    assert await step_names(fork.get_workflow_id()) == steps


@pytest.mark.asyncio
async def test_a_sub_agent_s_usage_counts_once_when_its_step_is_replayed(launched: str) -> None:
    # The sub-agent's usage is merged into the run's while its tool step runs; a replay
    # returns the step's recorded result without running it, so the usage must come back with
    # it, or a recovered run counts fewer tokens (and a cost limit lets more through).
    helper_transport = ScriptedTransport([text_reply("Sub-answer."), text_reply("Never sent.")])
    helper_client = AsyncClient(api_key="sk-test", transport=helper_transport)
    helper = Agent("claude-sonnet-4-5", name="helper", description="Answers a question.",
                   client=helper_client)
    transport = ScriptedTransport([
        reply(tool_calls=[("helper", {"task": "Find it."})]), text_reply("Done."),
        text_reply("Done again."),
    ])
    client = AsyncClient(api_key="sk-test", transport=transport)
    agent = Agent("claude-sonnet-4-5", tools=[helper.as_tool()], client=client)
    durable = DBOSAgent(agent, name=f"caller-{uuid.uuid4().hex[:8]}")

    first = await durable.run("Ask the helper.", workflow_id="w-sub")
    assert first.usage.requests == 3  # its own two, and the helper's one
    steps = await step_names("w-sub")

    fork = await DBOS.fork_workflow_async("w-sub", len(steps))  # only the last call live
    outcome = await fork.get_result()
    assert outcome["state"]["answer"] == "Done again."
    assert len(helper_transport.requests) == 1  # the helper did not run again
    assert outcome["state"]["usage"]["requests"] == 3
    assert outcome["state"]["usage"]["input_tokens"] == first.usage.input_tokens


@pytest.mark.asyncio
async def test_a_run_that_gave_up_raises_run_error_to_every_caller_that_attaches(
    launched: str,
) -> None:
    orders = Orders([Fault.overloaded(), text_reply("Carried on.")], model_retries=0)
    with pytest.raises(RunError) as first:
        await orders.durable.run(PROMPT, workflow_id="w-gave-up")
    with pytest.raises(RunError) as again:
        await orders.durable.run(PROMPT, workflow_id="w-gave-up")
    with pytest.raises(RunError):
        await orders.durable.run(workflow_id="w-gave-up")  # attached without a prompt
    assert str(again.value) == str(first.value) and len(orders.transport.requests) == 1
    for raised in (first.value, again.value):  # chained, as the store's run chains it
        assert isinstance(raised.__cause__, OverloadedError)
        assert raised.__cause__.status_code == 529
    assert first.value.result is not None

    # What its error says: go on under a new id from the conversation it holds.
    advice = "DBOSAgent.run(history=error.result.messages, workflow_id=<a new id>)"
    assert advice in str(first.value) and "agent.run(state=" not in str(first.value)
    carried = await orders.durable.run(
        history=first.value.result.messages, workflow_id="w-gave-up-2"
    )
    assert carried.text == "Carried on." and len(orders.transport.requests) == 2


@pytest.mark.asyncio
async def test_a_refused_request_says_what_must_change_and_the_dbos_way_on(
    launched: str,
) -> None:
    orders = Orders([Fault.error(400), text_reply("Carried on.")])
    with pytest.raises(RunError) as refused:
        await orders.durable.run(PROMPT, workflow_id="w-refused")
    said = str(refused.value)
    assert "the API refused the request" in said and "agent.run(state=" not in said
    assert "DBOSAgent.run(history=error.result.messages, workflow_id=<a new id>)" in said
    assert refused.value.result is not None
    carried = await orders.durable.run(
        history=refused.value.result.messages, workflow_id="w-refused-2"
    )
    assert carried.text == "Carried on."


@pytest.mark.asyncio
async def test_a_reply_an_after_model_hook_failed_on_is_said_to_be_asked_again(
    launched: str,
) -> None:
    # The plain run's advice (agent.run(state=error.result.state) takes the held reply) does
    # not exist on DBOSAgent; its way, a new id from the conversation, asks for it again.
    charge = reply(tool_calls=[("charge", {"order": 1})])
    broken: list[bool] = [True]

    def after_model(ctx: RunContext[None], message: Any) -> None:
        if broken[0]:
            raise ValueError("the hook's bug")

    orders = Orders([charge, charge, text_reply("Done.")], hooks=Hooks(after_model=after_model))
    with pytest.raises(RunError) as failed:
        await orders.durable.run(PROMPT, workflow_id="w-held")
    said = str(failed.value)
    assert "agent.run(state=" not in said
    assert "DBOSAgent.run(history=error.result.messages, workflow_id=<a new id>)" in said
    assert "asks the model again for the reply the after_model hook failed on" in said
    assert failed.value.result is not None and failed.value.result.state.held is not None

    broken[0] = False
    went_on = await orders.durable.run(
        history=failed.value.result.messages, workflow_id="w-held-2"
    )
    assert went_on.text == "Done." and [e for e, _ in orders.effects] == ["charge"]
    assert len(orders.transport.requests) == 3  # the held reply's request, asked again


@pytest.mark.asyncio
async def test_a_run_user_code_failed_says_how_it_goes_on_under_dbos_and_that_way_works(
    launched: str,
) -> None:
    # Its RunError advised a plain run's way, "continue it with agent.run(prompt,
    # history=...)": not DBOSAgent's (a prompt would add a turn the run never asked for).
    script = [reply(tool_calls=[("lookup", {"key": "a"}), ("charge", {"order": 1})]),
              text_reply("Charged; the lookup failed.")]
    broken: list[bool] = [True]
    charged = asyncio.Event()

    async def after_tool(ctx: RunContext[None], call: Any, block: Any) -> None:
        if call["name"] == "charge":
            charged.set()
        elif broken[0]:
            await charged.wait()  # the charge ran: the run has something done to lose
            raise ValueError("the lookup's hook is broken")

    orders = Orders(script, hooks=Hooks(after_tool=after_tool))
    with pytest.raises(RunError) as failed:
        await orders.durable.run(PROMPT, workflow_id="w-failed")
    said = str(failed.value)
    assert "agent.run(prompt, history=...)" not in said
    assert "the workflow 'w-failed' has ended" in said
    advice = "DBOSAgent.run(history=error.result.messages, workflow_id=<a new id>)"
    assert advice in said
    assert failed.value.result is not None

    broken[0] = False
    went_on = await orders.durable.run(
        history=failed.value.result.messages, workflow_id="w-failed-2"
    )
    assert went_on.text == "Charged; the lookup failed."
    assert sorted(e for e, _ in orders.effects) == ["charge", "lookup"]  # none done twice
    assert len(orders.transport.requests) == 2


@pytest.mark.asyncio
async def test_without_an_approve_callback_a_call_needing_approval_ends_the_workflow(
    launched: str,
) -> None:
    orders = Orders(tools_then(), approval=True)
    result = await orders.durable.run(PROMPT, workflow_id="w-no-approve")
    assert result.stop_reason == "approval_required" and orders.effects == []
    again = await orders.durable.run(workflow_id="w-no-approve")  # ended: stays ended
    assert again.stop_reason == "approval_required" and len(orders.transport.requests) == 1


@pytest.mark.asyncio
async def test_an_id_used_by_another_agent_is_refused(launched: str) -> None:
    await Orders(tools_then()).durable.run(PROMPT, workflow_id="w-theirs")
    other = Orders([])  # another DBOSAgent (another name): the same prompt is no excuse
    with pytest.raises(RunMismatchError, match="'w-theirs' was already used"):
        await other.durable.run(PROMPT, workflow_id="w-theirs")
    with pytest.raises(UsageError, match="no run 'w-theirs' of"):
        await other.durable.run(workflow_id="w-theirs")
    assert other.transport.requests == []


@pytest.mark.asyncio
async def test_tool_hooks_run_inside_the_tool_s_step_and_model_hooks_run_again(
    launched: str,
) -> None:
    seen: list[str] = []
    hooks = Hooks(
        before_model=lambda ctx, params: seen.append("before_model"),
        before_tool=lambda ctx, call: seen.append(f"before_tool:{call['name']}"),
        after_tool=lambda ctx, call, result: seen.append(f"after_tool:{call['name']}"),
    )
    orders = Orders([*tools_then(), text_reply("Again.")], hooks=hooks)
    await orders.durable.run(PROMPT, workflow_id="w-hooks")
    steps = await step_names("w-hooks")
    seen.clear()

    fork = await DBOS.fork_workflow_async("w-hooks", len(steps))  # only the last call live
    assert (await fork.get_result())["state"]["answer"] == "Again."
    assert seen == ["before_model", "before_model"]  # no tool hook: their steps replayed


@pytest.mark.asyncio
async def test_the_workflow_is_named_after_the_agent_and_its_tools_get_the_fixed_deps(
    launched: str,
) -> None:
    seen: list[object] = []

    @tool
    async def bill(ctx: RunContext[dict[str, str]], order: int) -> str:
        """Bill an order."""
        seen.append(ctx.deps)
        return f"billed {order}"

    name = f"billing-{uuid.uuid4().hex[:8]}"
    transport = ScriptedTransport([reply(tool_calls=[("bill", {"order": 1})]), text_reply("ok")])
    agent = Agent("claude-sonnet-4-5", tools=[bill], name=name,
                  client=AsyncClient(api_key="sk-test", transport=transport))
    billing = DBOSAgent(agent, deps={"account": "acme"})  # no name=: the agent's
    await billing.run(PROMPT, workflow_id="w-deps")
    (status,) = await DBOS.list_workflows_async(workflow_ids=["w-deps"])
    assert status.name == f"agentkit.run:{name}" and seen == [{"account": "acme"}]


@pytest.mark.asyncio
async def test_the_timeout_counts_from_each_execution_of_the_workflow(launched: str) -> None:
    clock = FakeClock()

    @tool(idempotent=True)
    async def crunch(n: int) -> str:
        """Crunch for 30 seconds."""
        clock.advance(30)
        return f"crunched {n}"

    def ask(n: int) -> Any:
        return reply(tool_calls=[("crunch", {"n": n})])

    # Run: crunch 1, done. Replayed from its last model call, which now asks for crunch 2:
    # 30 s in this execution, 60 s since the first began: within a 40 s timeout per execution.
    transport = ScriptedTransport([ask(1), text_reply("Done."), ask(2), text_reply("Done too.")])
    agent = Agent("claude-sonnet-4-5", tools=[crunch], clock=clock, limits=Limits(timeout=40),
                  client=AsyncClient(api_key="sk-test", transport=transport))
    durable = DBOSAgent(agent, name=f"cruncher-{uuid.uuid4().hex[:8]}")
    assert (await durable.run(PROMPT, workflow_id="w-timeout")).text == "Done."
    steps = await step_names("w-timeout")
    fork = await DBOS.fork_workflow_async("w-timeout", len(steps))
    assert (await fork.get_result())["state"]["answer"] == "Done too."
    assert clock.now() == 60


@pytest.mark.asyncio
@pytest.mark.parametrize("change", ["gone", "idempotent"])
async def test_a_recovery_whose_tools_changed_says_so_and_answers_the_calls_interrupted(
    launched: str, change: str
) -> None:
    # A turn's steps follow its calls and which are idempotent: an MCP server whose list or
    # hints changed before a recovery shifted them, and the run failed with DBOS's
    # "Check that your workflow is deterministic", its continuable history telling the
    # model that calls which ran were unknown or not run.
    from agentkit import Toolset
    from agentkit.dbos._outcome import outcome_result

    ran: list[str] = []
    changed: list[bool] = []

    @tool
    async def charge(order: int) -> str:
        """Charge an order."""
        ran.append("charge")
        return f"charged order {order}"

    @tool(idempotent=True)
    async def lookup(key: str) -> str:
        """Look a value up (read-only)."""
        ran.append("lookup")
        return f"value-{key}"

    def prepare(ctx: RunContext[None], t: Any) -> Any:
        if not changed or t.name != "charge":
            return t
        return None if change == "gone" else t.replace(idempotent=True)

    transport = ScriptedTransport([*tools_then(), text_reply("Never sent.")])
    client = AsyncClient(api_key="sk-test", transport=transport)
    agent = Agent("claude-sonnet-4-5", client=client,
                  tools=[Toolset([lookup, charge]).with_prepare(prepare)])
    durable = DBOSAgent(agent, name=f"changing-{uuid.uuid4().hex[:8]}")
    await durable.run(PROMPT, workflow_id="w-changed")
    assert sorted(ran) == ["charge", "lookup"]

    changed.append(True)
    fork = await DBOS.fork_workflow_async("w-changed", len(await step_names("w-changed")))
    with pytest.raises(RunError, match="does not fit its recorded steps") as raised:
        outcome_result(await fork.get_result(), agent.config)
    assert "an MCP server's tool list or hints changed" in str(raised.value)
    assert sorted(ran) == ["charge", "lookup"]  # nothing ran again
    answers = raised.value.messages[-1]["content"]
    assert [b["content"] for b in answers] == [INTERRUPTED, INTERRUPTED]


@pytest.mark.parametrize("nested", [False, True])
def test_a_recovery_unfit_in_several_parallel_steps_at_once_is_still_told_as_unfit(
    nested: bool,
) -> None:
    # Parallel calls' steps each meet DBOS's "does not fit" error: when two get there before
    # either is cancelled the run fails with a group of them, which was told as a plain
    # failure ("ExceptionGroup: unhandled errors in a TaskGroup"), its calls "not finished".
    from dbos._error import DBOSUnexpectedStepError

    from agentkit.dbos._agent import _unexpected_step  # pyright: ignore[reportPrivateUsage]

    first = DBOSUnexpectedStepError("w", 3, "charge", "lookup")
    group = ExceptionGroup("calls", [first, DBOSUnexpectedStepError("w", 4, "a", "b")])
    if nested:
        group = ExceptionGroup("run", [ValueError("another"), group])
    assert _unexpected_step(group) is first
    assert _unexpected_step(first) is first
    assert _unexpected_step(ExceptionGroup("other", [ValueError("x")])) is None
    assert _unexpected_step(None) is None


@pytest.mark.asyncio
async def test_cancelling_the_caller_stops_the_wait_and_dbos_cancel_stops_the_run(
    launched: str,
) -> None:
    # The README's two ways a cancellation meets a DBOSAgent run: the caller's (the workflow
    # goes on, attached to again) and DBOS's (the call in flight unrecorded, answered
    # "interrupted" when the run is resumed, never run twice).
    entered, release = asyncio.Event(), asyncio.Event()
    charged: list[str] = []

    @tool
    async def charge(ctx: RunContext[None], order: int) -> str:
        """Charge an order."""
        charged.append(str(ctx.run_id))
        entered.set()
        await release.wait()
        return f"charged order {order}"

    script = [reply(tool_calls=[("charge", {"order": 1})]), text_reply("Done.")] * 2
    client = AsyncClient(api_key="sk-test", transport=ScriptedTransport(script))
    agent = Agent("claude-sonnet-4-5", tools=[charge], client=client)
    durable = DBOSAgent(agent, name=f"cancelled-{uuid.uuid4().hex[:8]}")

    waiting = asyncio.create_task(durable.run(PROMPT, workflow_id="w-caller"))
    await entered.wait()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    release.set()
    result = await durable.run(workflow_id="w-caller")
    assert result.text == "Done." and result.messages[2]["content"][0]["content"] == (
        "charged order 1"
    )

    entered.clear()
    release.clear()
    stopped = asyncio.create_task(durable.run(PROMPT, workflow_id="w-dbos"))
    await entered.wait()
    await DBOS.cancel_workflow_async("w-dbos")
    release.set()  # the step runs to its end, unrecorded
    with pytest.raises(DBOSAwaitedWorkflowCancelledError):
        await stopped
    resumed = await (await DBOS.resume_workflow_async("w-dbos")).get_result()
    assert resumed["state"]["messages"][2]["content"][0]["content"] == INTERRUPTED
    assert charged == ["w-caller", "w-dbos"]


@pytest.mark.asyncio
async def test_a_setup_mistake_mid_run_is_chained_to_the_run_error_for_every_caller(
    launched: str,
) -> None:
    # The store's run raises a RunError chaining the UsageError (its type says what to fix);
    # the workflow's outcome kept only its text, so the RunError of a DBOS run chained nothing.
    from agentkit import Toolset

    @tool
    async def charge(order: int) -> str:
        """Charge an order."""
        return f"charged order {order}"

    def prepare(ctx: RunContext[None], t: Any) -> Any:
        return t if ctx.turn == 0 else "not a tool"

    client = AsyncClient(api_key="sk-test", transport=ScriptedTransport(tools_then()))
    agent = Agent("claude-sonnet-4-5", client=client,
                  tools=[Toolset([charge]).with_prepare(prepare)])
    durable = DBOSAgent(agent, name=f"setup-{uuid.uuid4().hex[:8]}")
    with pytest.raises(RunError) as first:
        await durable.run(PROMPT, workflow_id="w-setup")
    with pytest.raises(RunError) as again:
        await durable.run(workflow_id="w-setup")
    for raised in (first.value, again.value):
        cause = raised.__cause__
        assert isinstance(cause, UsageError) and "returned 'not a tool'" in str(cause)
        assert raised.usage is not None and raised.usage.requests == 1
        assert raised.messages is not None and len(raised.messages) == 3


def test_the_error_a_run_error_chains_is_rebuilt_when_it_is_agentkit_s_or_python_s() -> None:
    from agentkit.dbos._outcome import cause_from_record, cause_record
    from agentkit.errors import ConversationError

    def rebuilt(error: Exception) -> Exception | None:
        record = cause_record(error)
        return None if record is None else cause_from_record(record)

    original = ConversationError("roles must alternate", index=2, rule="alternation")
    refused = rebuilt(original)
    assert isinstance(refused, ConversationError)
    assert (str(refused), refused.index, refused.rule) == (str(original), 2, "alternation")
    plain = rebuilt(ValueError("bad"))
    assert type(plain) is ValueError and str(plain) == "bad"
    assert rebuilt(type("Mine", (Exception,), {})("x")) is None  # not ours to rebuild
    assert cause_from_record({"type": "SystemExit", "fields": {}}) is None


@pytest.mark.asyncio
async def test_a_structured_output_is_recorded_as_json_and_typed_again_for_every_caller(
    launched: str,
) -> None:
    # The workflow's output held the output_type's instance, pickled by DBOS: a class it
    # cannot pickle (defined in a function) failed the run after it finished, and a class
    # changed since would come back as it was pickled.
    import pydantic

    class Verdict(pydantic.BaseModel):
        ok: bool
        why: str

    transport = ScriptedTransport([reply(tool_calls=[("final_result", {"ok": True, "why": "x"})])])
    agent = Agent("claude-sonnet-4-5", output_type=Verdict,
                  client=AsyncClient(api_key="sk-test", transport=transport))
    durable = DBOSAgent(agent, name=f"verdict-{uuid.uuid4().hex[:8]}")
    first = await durable.run(PROMPT, workflow_id="w-output")
    attached = await durable.run(workflow_id="w-output")
    assert first.output == attached.output == Verdict(ok=True, why="x")
    assert type(attached.output) is Verdict
    handle: WorkflowHandleAsync[dict[str, Any]] = await DBOS.retrieve_workflow_async("w-output")
    assert (await handle.get_result())["state"]["output"] == {"ok": True, "why": "x"}
