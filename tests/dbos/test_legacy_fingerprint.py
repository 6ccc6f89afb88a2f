"""DBOS runs that an agentkit from before context policies were fingerprinted (before 9301428)
started for an agent with a policy: `DBOSAgent` attaches to its workflow (whose inputs keep the
old fingerprint), and `HostedRuns` finds it by the id it was given (which holds it), rather
than refusing it or starting it again."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from agentkit import Agent, AsyncClient, RunContext, tool
from agentkit.context import Trim
from agentkit.dbos import DBOSAgent, HostedRuns
from agentkit.dbos import _agent as agent_module
from agentkit.dbos import _hosted as hosted_module
from agentkit.testing import (
    FakeServer,
    FunctionModel,
    ScriptedTransport,
    last_user_text,
    reply,
    text_reply,
)

PROMPT = "Charge the open orders"
# What the agentkit before 9301428 gave these agents and prompts, computed by that code (the
# agent half without the policy) and pinned so the tests cannot drift with today's rule.
ORDERS_LEGACY = "1102da74ba4dcca5-b9f121cb2c28a439"
ECHO_LEGACY = "5e8e30c985fd169e-1f98c20aebaa40b7"


def legacy(monkeypatch: pytest.MonkeyPatch, module: Any, value: str) -> None:
    """Make `module` fingerprint as the agentkit before 9301428 did."""
    monkeypatch.setattr(module, "fingerprint", lambda *args: value)
    monkeypatch.setattr(module, "former", lambda *args: None, raising=False)


def orders(script: list[Any], name: str) -> tuple[DBOSAgent[str], ScriptedTransport]:
    @tool(idempotent=True)
    async def lookup(ctx: RunContext[None], key: str) -> str:
        """Look a value up (read-only)."""
        return f"value-{key}"

    @tool
    async def charge(ctx: RunContext[None], order: int) -> str:
        """Charge an order."""
        return f"charged order {order}"

    transport = ScriptedTransport(script)
    client = AsyncClient(api_key="sk-test", transport=transport)
    agent = Agent("claude-sonnet-4-5", tools=[lookup, charge], client=client, context=Trim())
    return DBOSAgent(agent, name=name), transport


@pytest.mark.asyncio
async def test_a_dbos_agent_attaches_to_a_workflow_started_with_the_former_fingerprint(
    launched: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    durable, transport = orders(
        [reply(tool_calls=[("lookup", {"key": "a"})]), text_reply("Done.")],
        f"orders-{uuid.uuid4().hex[:8]}",
    )
    with monkeypatch.context() as patched:
        legacy(patched, agent_module, ORDERS_LEGACY)
        stored = await durable.run(PROMPT, workflow_id="w-old")
    attached = await durable.run(PROMPT, workflow_id="w-old")  # today's fingerprint
    assert attached.messages == stored.messages and len(transport.requests) == 2


@pytest.mark.asyncio
async def test_hosted_runs_find_a_run_started_under_the_former_fingerprint(
    launched: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = FunctionModel(lambda body: text_reply(f"echo {last_user_text(body)}"))
    with FakeServer(model) as server:
        async with AsyncClient(api_key="sk-test", base_url=server.base_url) as client:
            agent = Agent("claude-sonnet-4-5", client=client, name="echo", context=Trim())
            with monkeypatch.context() as patched:
                legacy(patched, hosted_module, ECHO_LEGACY)
                with HostedRuns("p").active():
                    first = await agent.run("a")
            assert len(server.requests) == 1
            with HostedRuns("p").active():
                again = await agent.run("a")
            assert again.text == first.text and len(server.requests) == 1  # found: not run again
            with HostedRuns("p").active():
                await agent.run("a")
                await agent.run("a")  # the second of this content: new under either rule
            assert len(server.requests) == 2
