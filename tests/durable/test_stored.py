"""A durable run's stored result read back by the same call (issue #9): with nothing left to
ask the model, the call needs no API key; a run that goes on still calls the model."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from agentkit import Agent, AsyncClient, Limits, RunContext, SQLiteStore, Tool, Toolset, tool
from agentkit.context import Auto, Compaction, ServerEditing, Trim
from agentkit.errors import LimitExceeded, RunError, UsageError
from agentkit.testing import FakeServer, ScriptedTransport, reply, text_reply

MODEL = "claude-sonnet-4-5"
PROMPT = "Charge order 1"


@tool
async def charge(order: int) -> str:
    """Charge an order."""
    return f"charged {order}"


def steps() -> list[Any]:
    return [reply(tool_calls=[("charge", {"order": 1}, "toolu_1")]), text_reply("All done.")]


def scripted(script: list[Any], **kwargs: Any) -> Agent[Any]:
    client = AsyncClient(api_key="sk-test", transport=ScriptedTransport(script), max_retries=0)
    return Agent(MODEL, tools=[charge], client=client, **kwargs)


@pytest.fixture
def store(tmp_path: Path) -> SQLiteStore:
    return SQLiteStore(tmp_path / "runs.db")


@pytest.fixture
def no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """No credentials and no base URL: `AsyncClient()` raises `UsageError`."""
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(UsageError):
        AsyncClient()


@pytest.mark.asyncio
@pytest.mark.usefixtures("no_key")
async def test_a_finished_run_is_read_back_without_an_api_key(store: SQLiteStore) -> None:
    first = await scripted(steps()).run(PROMPT, run_id="r1", store=store)
    stored = store.entries("r1")

    keyless = Agent(MODEL, tools=[charge], store=store)  # its runs make their own client
    again = await keyless.run(PROMPT, run_id="r1")
    assert again.text == "All done." and again.messages == first.messages
    assert (await keyless.run(run_id="r1")).text == "All done."  # resumed without the prompt
    async with keyless.iter(PROMPT, run_id="r1") as run:
        events = [type(e).__name__ async for e in run]
    assert run.result is not None and run.result.text == "All done."
    assert events == ["RunFinished"]
    assert store.entries("r1") == stored


@pytest.mark.usefixtures("no_key")
def test_a_finished_run_is_read_back_by_run_sync_without_an_api_key(store: SQLiteStore) -> None:
    scripted(steps()).run_sync(PROMPT, run_id="r1", store=store)
    again = Agent(MODEL, tools=[charge], store=store).run_sync(PROMPT, run_id="r1")
    assert again.text == "All done."


@pytest.mark.asyncio
@pytest.mark.usefixtures("no_key")
async def test_a_paused_run_is_handed_back_paused_without_an_api_key(store: SQLiteStore) -> None:
    needs_approval = charge.replace(requires_approval=True)
    client = AsyncClient(api_key="sk-test", transport=ScriptedTransport(steps()), max_retries=0)
    paused = await Agent(MODEL, tools=[needs_approval], client=client).run(
        PROMPT, run_id="r1", store=store
    )
    assert [c["id"] for c in paused.pending_approvals] == ["toolu_1"]

    again = await Agent(MODEL, tools=[needs_approval], store=store).run(PROMPT, run_id="r1")
    assert [c["id"] for c in again.pending_approvals] == ["toolu_1"]
    assert store.header("r1").status == "paused"  # type: ignore[union-attr]


@pytest.mark.asyncio
@pytest.mark.usefixtures("no_key")
async def test_a_run_ended_by_a_limit_ends_there_again_without_an_api_key(
    store: SQLiteStore,
) -> None:
    limits = Limits(max_turns=1)
    with pytest.raises(LimitExceeded):
        await scripted(steps(), limits=limits).run(PROMPT, run_id="r1", store=store)

    keyless = Agent(MODEL, tools=[charge], store=store, limits=limits)
    with pytest.raises(LimitExceeded) as raised:
        await keyless.run(PROMPT, run_id="r1")
    assert raised.value.limit == "max_turns"
    assert store.header("r1").status == "finished"  # type: ignore[union-attr]


@pytest.mark.asyncio
async def test_a_run_that_goes_on_makes_its_client_from_the_environment(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits = Limits(max_turns=1)
    with pytest.raises(LimitExceeded):
        await scripted(steps(), limits=limits).run(PROMPT, run_id="r1", store=store)

    # The same call under a raised limit goes on: its client comes from the environment.
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-env")
    with FakeServer([text_reply("All done.")]) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        result = await Agent(MODEL, tools=[charge], store=store).run(PROMPT, run_id="r1")
    assert result.text == "All done." and len(server.requests) == 1


@pytest.mark.asyncio
@pytest.mark.usefixtures("no_key")
async def test_a_run_that_must_call_the_model_without_a_key_fails_and_stores_nothing(
    store: SQLiteStore,
) -> None:
    with pytest.raises(UsageError, match="ANTHROPIC_API_KEY"):
        await Agent(MODEL, tools=[charge], store=store).run(PROMPT, run_id="r1")
    assert store.header("r1") is None


class Source:
    """A tool source whose listing can fail (a server down) and that records the context each
    listing got: (turn, messages, requests so far)."""

    def __init__(self) -> None:
        self.down = False
        self.listed: list[tuple[int, int, int]] = []

    def prepare(self, ctx: RunContext[Any], t: Tool) -> Tool:
        if self.down:
            raise ConnectionError("the tool server is down")
        self.listed.append((ctx.turn, len(ctx.messages), ctx.usage.requests))
        return t

    def agent(self, script: list[Any] | None = None, **kwargs: Any) -> Agent[Any]:
        tools = Toolset([charge]).with_prepare(self.prepare)
        if script is None:  # no client: the run makes its own, from the environment
            return Agent(MODEL, tools=[tools], **kwargs)
        client = AsyncClient(api_key="sk-test", transport=ScriptedTransport(script), max_retries=0)
        return Agent(MODEL, tools=[tools], client=client, **kwargs)


@pytest.mark.asyncio
@pytest.mark.usefixtures("no_key")
@pytest.mark.parametrize(
    "policy", [None, Trim(), Compaction(), ServerEditing(), Auto()],
    ids=["no-policy", "trim", "compaction", "server-editing", "auto"],
)
async def test_a_finished_run_is_read_back_with_its_tool_source_down(
    store: SQLiteStore, policy: object
) -> None:
    # A context policy's decisions are journaled: its replay sizes no request, so it lists no
    # tools either (it listed every turn's, and failed with the source down).
    source = Source()
    first = await source.agent(steps(), context=policy).run(PROMPT, run_id="r1", store=store)
    assert source.listed == [(0, 1, 0), (1, 3, 1)]

    source.down = True  # every call of the run returned: their results are in the journal
    again = await source.agent(context=policy).run(PROMPT, run_id="r1", store=store)
    assert again.text == "All done." and again.messages == first.messages
    async with source.agent(context=policy).iter(PROMPT, run_id="r1", store=store) as run:
        assert [type(e).__name__ async for e in run] == ["RunFinished"]


@pytest.mark.asyncio
async def test_a_run_that_goes_on_after_the_replay_lists_its_tools_and_calls_the_model(
    store: SQLiteStore,
) -> None:
    source = Source()
    with pytest.raises(LimitExceeded):  # the charge ran; the second request is over the limit
        await source.agent(steps(), limits=Limits(max_turns=1)).run(
            PROMPT, run_id="r1", store=store
        )
    assert source.listed == [(0, 1, 0)]

    source.down = True  # going on needs the next turn's tools
    with pytest.raises(RunError, match="the tool server is down"):
        await source.agent([]).run(PROMPT, run_id="r1", store=store)
    source.down, source.listed = False, []
    agent = source.agent([text_reply("All done.")])
    result = await agent.run(PROMPT, run_id="r1", store=store)
    assert result.text == "All done." and source.listed == [(1, 3, 1)]  # listed live, once
    transport = cast(ScriptedTransport, agent._client._transport)  # type: ignore[union-attr]
    assert [t["name"] for t in transport.requests[0].body["tools"]] == ["charge"]


@pytest.mark.asyncio
async def test_a_turn_with_a_call_the_engine_answered_lists_its_tools_as_its_request_did(
    store: SQLiteStore,
) -> None:
    # The unknown tool's answer is the engine's, not journaled: the replay decides it again,
    # with the tools the turn offered, listed with the context the turn's request had.
    source = Source()
    script = [reply(tool_calls=[("refund", {"order": 1}, "toolu_1")]), text_reply("Sorry.")]
    first = await source.agent(script).run(PROMPT, run_id="r1", store=store)
    assert "Unknown tool 'refund'" in str(first.messages[2]["content"])
    listed = source.listed

    source.listed = []
    again = await source.agent([]).run(PROMPT, run_id="r1", store=store)
    assert again.messages == first.messages and again.text == "Sorry."
    assert source.listed == listed[:1]  # the turn with the unknown call, as first listed
    source.down = True
    with pytest.raises(RunError) as raised:  # deciding that call needs the turn's tools
        await source.agent([]).run(PROMPT, run_id="r1", store=store)
    assert isinstance(raised.value.__cause__, ConnectionError)  # as a live listing's


@pytest.mark.asyncio
async def test_a_paused_run_lists_the_tools_of_its_open_calls_as_its_request_did(
    store: SQLiteStore,
) -> None:
    source = Source()
    tools = Toolset([charge.replace(requires_approval=True)]).with_prepare(source.prepare)
    client = AsyncClient(api_key="sk-test", transport=ScriptedTransport(steps()), max_retries=0)
    agent = Agent(MODEL, tools=[tools], client=client, store=store)
    await agent.run(PROMPT, run_id="r1")
    assert source.listed == [(0, 1, 0)]

    source.listed = []
    again = await agent.run(PROMPT, run_id="r1")
    assert [c["id"] for c in again.pending_approvals] == ["toolu_1"]
    assert source.listed == [(0, 1, 0)]  # with the context of the request, not of its reply
    with pytest.raises(UsageError, match=r"awaiting a decision are 'toolu_1' \(charge\)"):
        await agent.run(run_id="r1", decisions={"toolu_9": True})
    done = await agent.run(run_id="r1", decisions={"toolu_1": True})
    assert done.text == "All done."


@pytest.mark.asyncio
async def test_a_turn_after_a_pause_lists_its_tools_with_the_history_its_request_sent(
    store: SQLiteStore,
) -> None:
    # After a `pause_turn` the next reply joins the paused assistant turn, replacing it in the
    # history: the turn's tools, listed later in the replay, see the turn as it was sent.
    seen: list[list[dict[str, Any]]] = []

    def prepare(ctx: RunContext[Any], t: Tool) -> Tool:
        seen.append([dict(m) for m in ctx.messages])
        return t

    script = [
        reply("Searching.", stop_reason="pause_turn"),
        reply(tool_calls=[("refund", {"order": 1}, "toolu_1")]),  # unknown: the engine answers
        text_reply("Sorry."),
    ]
    tools = Toolset([charge]).with_prepare(prepare)

    def agent(script: list[Any]) -> Agent[Any]:
        client = AsyncClient(api_key="sk-test", transport=ScriptedTransport(script),
                             max_retries=0)
        return Agent(MODEL, tools=[tools], client=client)

    first = await agent(script).run(PROMPT, run_id="r1", store=store)
    paused_turn = seen[1]  # the request after the pause: it ends with the paused text
    assert paused_turn[-1]["content"] == [{"type": "text", "text": "Searching."}]

    seen.clear()
    again = await agent([]).run(PROMPT, run_id="r1", store=store)
    assert again.messages == first.messages
    assert seen == [paused_turn]  # only the turn with the engine's answer, as it was sent
