"""A run on DBOS traced by `agentkit.instrument()` as any run is: each execution of its
workflow an `invoke_agent` span, its live model and tool calls `chat` / `execute_tool` spans
and metric points; a recovery's replayed steps (recorded by the execution that ran them, and
reported by it) add none, so the token metric counts each reply once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from dbos import DBOS
from telemetry import Telemetry, install

from agentkit import Agent, AsyncClient, RunContext, tool
from agentkit.dbos import DBOSAgent
from agentkit.testing import Fault, ScriptedTransport, reply, text_reply

pytest.importorskip("opentelemetry.sdk", reason="the OpenTelemetry SDK is not installed")


@pytest.fixture
def telemetry(monkeypatch: pytest.MonkeyPatch) -> Iterator[Telemetry]:
    yield from install(monkeypatch)


def points(telemetry: Telemetry, kind: str) -> tuple[int, int]:
    """(sum, count) of the token metric's `kind` ("input" / "output") points."""
    metric = telemetry.metrics()["gen_ai.client.token.usage"]
    found = [p for p in metric.data.data_points if p.attributes["gen_ai.token.type"] == kind]
    return sum(p.sum for p in found), sum(p.count for p in found)


def named(telemetry: Telemetry, since: int, prefix: str) -> list[Any]:
    return [s for s in telemetry.spans[since:] if s.name.startswith(prefix)]


@pytest.mark.asyncio
async def test_a_dbos_run_is_traced_and_a_replay_reports_only_its_live_calls(
    launched: str, telemetry: Telemetry
) -> None:
    charged: list[str | None] = []

    @tool
    async def charge(ctx: RunContext[None], order: int) -> str:
        """Charge an order."""
        charged.append(ctx.idempotency_key)
        return f"charged order {order}"

    transport = ScriptedTransport([
        reply(tool_calls=[("charge", {"order": 1})]), text_reply("Charged."),
        text_reply("Charged again."),
    ])
    client = AsyncClient(api_key="sk-test", transport=transport)
    agent = Agent("claude-sonnet-4-5", tools=[charge], client=client, name="billing")
    durable = DBOSAgent(agent, name=f"billing-{uuid.uuid4().hex[:8]}")

    first = await durable.run("Charge order 1", workflow_id="w-traced")
    run = telemetry.one("invoke_agent billing")
    assert dict(run.attributes or {})["gen_ai.conversation.id"] == "w-traced"
    assert [s.name for s in telemetry.children(run)] == [
        "chat claude-sonnet-4-5", "execute_tool charge", "chat claude-sonnet-4-5"
    ]
    assert points(telemetry, "input") == (first.usage.input_tokens, 2)

    # A recovery: every step replayed from the database but the last model call, sent again.
    seen = len(telemetry.spans)
    steps = await DBOS.list_workflow_steps_async("w-traced")
    fork = await DBOS.fork_workflow_async("w-traced", len(steps))
    outcome = await fork.get_result()
    assert outcome["state"]["answer"] == "Charged again." and len(charged) == 1

    (again,) = named(telemetry, seen, "invoke_agent")
    live = named(telemetry, seen, "chat") + named(telemetry, seen, "execute_tool")
    assert [s.name for s in live] == ["chat claude-sonnet-4-5"]  # the one call sent again
    assert [s.name for s in telemetry.children(again)] == ["chat claude-sonnet-4-5"]
    last = transport.requests[-1]
    resent = dict(live[0].attributes or {})["gen_ai.usage.input_tokens"]
    assert last.body["messages"] and resent > 0
    assert points(telemetry, "input") == (first.usage.input_tokens + resent, 3)


@pytest.mark.asyncio
async def test_a_retry_recovered_from_its_record_opens_the_call_at_its_live_attempt(
    launched: str, telemetry: Telemetry
) -> None:
    transport = ScriptedTransport([Fault.overloaded(), text_reply("Done."), text_reply("Again.")])
    client = AsyncClient(api_key="sk-test", transport=transport, max_retries=0)
    agent = Agent("claude-sonnet-4-5", client=client, name="retrying")
    durable = DBOSAgent(agent, name=f"retrying-{uuid.uuid4().hex[:8]}")

    await durable.run("Hello", workflow_id="w-retried")
    (chat,) = telemetry.named("chat claude-sonnet-4-5")  # one call, its retry inside it
    assert dict(chat.attributes or {})["agentkit.model.retries"] == 1

    seen = len(telemetry.spans)
    steps = [s["function_name"] for s in await DBOS.list_workflow_steps_async("w-retried")]
    fork = await DBOS.fork_workflow_async("w-retried", steps.index("agentkit.model", 1) + 1)
    await fork.get_result()  # the failed attempt and the back-off replayed, the reply live
    (chat,) = named(telemetry, seen, "chat")
    assert "agentkit.model.retries" not in dict(chat.attributes or {})
    assert chat.status.is_ok and points(telemetry, "input")[1] == 2
