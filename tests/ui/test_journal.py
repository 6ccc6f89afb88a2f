"""What the viewer reads from a run's journal beyond the engine's inputs: a paused run's status
entry lists the calls awaiting a decision, and only those (a call next to them that needs no
approval waits for nothing: it runs when the run resumes)."""

from __future__ import annotations

from pathlib import Path

from agentkit import Agent, AsyncClient, SQLiteStore, tool
from agentkit.testing import ScriptedTransport, reply


@tool(requires_approval=True)
async def charge(order: int) -> str:
    """Charge an order."""
    return f"charged order {order}"


@tool
async def lookup(order: int) -> str:
    """The amount due on an order."""
    return f"order {order}: 12.99 EUR"


def test_a_paused_status_lists_the_calls_awaiting_a_decision(tmp_path: Path) -> None:
    calls = [("lookup", {"order": 7}, "toolu_l"), ("charge", {"order": 7}, "toolu_c")]
    client = AsyncClient(api_key="sk-test", max_retries=0,
                         transport=ScriptedTransport([reply("Charging.", tool_calls=calls)]))
    agent = Agent("claude-sonnet-4-5", tools=[charge, lookup], client=client)
    with SQLiteStore(tmp_path / "runs.db") as store:
        result = agent.run_sync("Charge order 7", run_id="r", store=store)
        assert [c["id"] for c in result.pending_approvals] == ["toolu_c"]
        last = store.entries("r")[-1]
    assert last.kind == "status"
    assert last.payload == {"status": "paused", "reason": "approval_required",
                            "awaiting": ["toolu_c"]}
