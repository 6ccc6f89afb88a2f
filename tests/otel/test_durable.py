"""Spans survive durable resumes: each attempt at a stored run is its own `invoke_agent` span
with `gen_ai.conversation.id` = the run id, linked to the spans of the attempts before it
(their W3C `traceparent`s are kept in the run's journal)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from opentelemetry.trace import SpanContext
from telemetry import Telemetry

import agentkit.otel
from agentkit import Agent, AsyncClient, SQLiteStore, tool
from agentkit._run import durable
from agentkit.testing import ScriptedTransport, reply, text_reply

MODEL = "claude-sonnet-4-5"


class Crash(BaseException):
    """Stands for the process dying mid-run."""


crashes: list[str] = []


@tool(idempotent=True)
def lookup(key: str) -> str:
    """Look a value up."""
    if crashes:
        raise Crash(crashes.pop())
    return f"value-{key}"


@tool(requires_approval=True)
def charge(order: int) -> str:
    """Charge an order."""
    return f"charged {order}"


def ids(ctx: SpanContext | None) -> tuple[int, int]:
    assert ctx is not None
    return ctx.trace_id, ctx.span_id


def traceparent(ctx: SpanContext) -> str:
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


@pytest.mark.asyncio
async def test_a_resumed_run_links_to_every_attempt_before_it(
    telemetry: Telemetry, tmp_path: Path
) -> None:
    transport = ScriptedTransport([
        reply(tool_calls=[("lookup", {"key": "a"}, "toolu_1")]),  # attempt 1 crashes in it
        reply(tool_calls=[("charge", {"order": 7}, "toolu_2")]),  # attempt 2 pauses on it
        text_reply("Charged."),                                   # attempt 3 finishes
    ])
    store = SQLiteStore(tmp_path / "runs.db")
    async with AsyncClient(api_key="sk-x", transport=transport, max_retries=0) as client:
        agent = Agent(MODEL, client=client, tools=[lookup, charge], name="shop", store=store)
        crashes.append("killed")
        with pytest.raises(Crash):
            await agent.run("Buy", run_id="order-7")
        paused = await agent.run("Buy", run_id="order-7")
        assert paused.stop_reason == "approval_required"
        done = await agent.run(run_id="order-7", decisions={"toolu_2": True})
        assert done.text == "Charged."
    store.close()

    first, second, third = telemetry.named("invoke_agent shop")
    for span in (first, second, third):
        assert dict(span.attributes or {})["gen_ai.conversation.id"] == "order-7"
    assert first.links == ()
    assert [ids(link.context) for link in second.links] == [ids(first.context)]
    assert [ids(link.context) for link in third.links] == [ids(first.context), ids(second.context)]
    assert dict(third.links[0].attributes or {}) == {"agentkit.link": "continues"}
    # each attempt is its own trace; the links say which run it continues
    assert len({s.context.trace_id for s in (first, second, third)}) == 3  # type: ignore[union-attr]
    chats = [s for s in telemetry.spans if s.name.startswith("chat ")]
    assert all(dict(s.attributes or {})["gen_ai.conversation.id"] == "order-7" for s in chats)


@pytest.mark.asyncio
async def test_the_journal_keeps_the_span_only_when_the_run_is_observed(
    telemetry: Telemetry, tmp_path: Path
) -> None:
    transport = ScriptedTransport([text_reply("One."), text_reply("Two.")])
    store = SQLiteStore(tmp_path / "runs.db")
    async with AsyncClient(api_key="sk-x", transport=transport, max_retries=0) as client:
        agent = Agent(MODEL, client=client, store=store)
        await agent.run("a", run_id="seen")
        agentkit.otel.uninstrument()
        await agent.run("b", run_id="unseen")

    def payloads(run_id: str) -> list[dict[str, Any]]:
        return [e.payload for e in store.entries(run_id) if e.kind in ("start", "status")]

    (span,) = telemetry.spans[-1:]
    assert span.context is not None
    assert [p.get("traceparent") for p in payloads("seen")] == [traceparent(span.context)] * 2
    assert all("traceparent" not in p for p in payloads("unseen"))
    store.close()


dying: set[str] = set()


@tool(idempotent=True)
def find(key: str) -> str:
    """Find a value."""
    if key in dying:
        dying.discard(key)
        raise Crash(key)
    return f"value-{key}"


@pytest.mark.asyncio
async def test_an_attempt_that_died_without_a_status_is_linked_too(
    telemetry: Telemetry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A process killed with SIGKILL writes no status entry: a resumed attempt's span is kept
    # with its first commit instead, so the attempts after it link to it all the same.
    transport = ScriptedTransport([
        reply(tool_calls=[("find", {"key": "a"}, "toolu_1")]),  # attempt 1 crashes in it
        reply(tool_calls=[("find", {"key": "b"}, "toolu_2")]),  # attempt 2 is killed in it
        text_reply("Found."),                                   # attempt 3 finishes
    ])
    store = SQLiteStore(tmp_path / "runs.db")
    async with AsyncClient(api_key="sk-x", transport=transport, max_retries=0) as client:
        agent = Agent(MODEL, client=client, tools=[find], name="finder", store=store)
        dying.add("a")
        with pytest.raises(Crash):
            await agent.run("Find", run_id="f")
        dying.add("b")
        with monkeypatch.context() as killed:  # as SIGKILL would: no status entry
            killed.setattr(durable.Journal, "status", lambda self, status, reason: None)
            with pytest.raises(Crash):
                await agent.run("Find", run_id="f")
        assert (await agent.run("Find", run_id="f")).text == "Found."
    kinds = [e.kind for e in store.entries("f")]
    store.close()

    first, second, third = telemetry.named("invoke_agent finder")
    assert [ids(link.context) for link in third.links] == [ids(first.context), ids(second.context)]
    assert kinds.count("attempt") == 2  # attempts 2 and 3 resumed it; the start holds the first


@tool
def ship(order: int) -> str:
    """Ship an order (never twice)."""
    if crashes:
        raise Crash(crashes.pop())
    return f"shipped {order}"


@pytest.mark.asyncio
async def test_a_call_cut_by_a_crash_is_reported_interrupted_on_resume(
    telemetry: Telemetry, tmp_path: Path
) -> None:
    # Its span said `tool_error` ("the tool reported a failure"), which it never did.
    transport = ScriptedTransport([reply(tool_calls=[("ship", {"order": 7}, "toolu_1")]),
                                   text_reply("Check the shipment.")])
    store = SQLiteStore(tmp_path / "runs.db")
    async with AsyncClient(api_key="sk-x", transport=transport, max_retries=0) as client:
        agent = Agent(MODEL, client=client, tools=[ship], name="shipper", store=store)
        crashes.append("killed")
        with pytest.raises(Crash):
            await agent.run("Ship", run_id="s")
        seen = len(telemetry.spans)
        await agent.run("Ship", run_id="s")
    store.close()

    (answered,) = [s for s in telemetry.spans[seen:] if s.name == "execute_tool ship"]
    attributes = dict(answered.attributes or {})
    assert attributes["error.type"] == "interrupted"
    assert attributes["agentkit.tool.executed"] is False
