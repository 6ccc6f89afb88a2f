"""Approval decisions given to a stored run once its calls were decided: the same decision
again is left out (nothing journaled twice), a different one is refused (`UsageError` naming
the call, its tool and the decision in force) with the stored run left as it was."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from agentkit import Agent, AsyncClient, RunContext, SQLiteStore, UsageError, tool
from agentkit.testing import ScriptedTransport, reply, text_reply

MODEL = "claude-sonnet-4-5"


class Crash(BaseException):
    """Stands for the process dying: not an `Exception`, so nothing turns it into a result."""


def agent_for(script: list[Any], ran: list[str], *more: Any, approve: Any = None) -> Agent[Any]:
    @tool(requires_approval=True)
    async def charge(ctx: RunContext[None], order: int) -> str:
        """Charge an order."""
        ran.append(f"charge {order}")
        return f"charged {order}"

    @tool(requires_approval=True)
    async def refund(ctx: RunContext[None], order: int) -> str:
        """Refund an order."""
        ran.append(f"refund {order}")
        return f"refunded {order}"

    client = AsyncClient(api_key="sk-test", transport=ScriptedTransport(script), max_retries=0)
    return Agent(MODEL, tools=[*more, charge, refund], client=client, approve=approve)


def two_calls() -> list[Any]:
    return [
        reply(tool_calls=[("charge", {"order": 1}, "t1"), ("refund", {"order": 2}, "t2")]),
        text_reply("Charged 1, did not refund 2."),
    ]


@pytest.fixture
def store(tmp_path: Path) -> SQLiteStore:
    return SQLiteStore(tmp_path / "runs.db")


@pytest.mark.asyncio
async def test_a_finished_run_refuses_a_changed_decision_and_takes_the_same_one_silently(
    store: SQLiteStore,
) -> None:
    ran: list[str] = []
    agent = agent_for(two_calls(), ran)
    assert (await agent.run("Charge 1, refund 2", run_id="r1", store=store)).pending_approvals
    done = await agent.run(run_id="r1", store=store, decisions={"t1": True, "t2": "no"})
    assert done.text == "Charged 1, did not refund 2." and ran == ["charge 1"]
    stored, header = store.entries("r1"), store.header("r1")

    again = agent_for([], ran)  # any model call fails
    with pytest.raises(UsageError, match=r"'t2' \(refund\) was denied already \('no'\), and the "
                       r"model was told so\. A call's decision is final once given\. Nothing was "
                       r"decided"):
        await again.run(run_id="r1", store=store, decisions={"t2": True})
    with pytest.raises(UsageError, match=r"'t1' \(charge\) was approved already, and its result "
                       r"is in the conversation; 't2' \(refund\) was denied already \('no'\)"):
        await again.run(run_id="r1", store=store, decisions={"t1": False, "t2": "not today"})
    now = store.header("r1")  # the claim and release touch `updated`, nothing else
    assert store.entries("r1") == stored and now is not None and header is not None
    assert replace(now, updated=header.updated) == header and now.status == "finished"

    same = await again.run(run_id="r1", store=store, decisions={"t1": True, "t2": "no"})
    assert same.messages == done.messages and ran == ["charge 1"]
    assert store.entries("r1") == stored  # nothing decided twice


@pytest.mark.asyncio
async def test_a_run_paused_again_refuses_a_change_to_a_decision_of_an_earlier_turn(
    store: SQLiteStore,
) -> None:
    ran: list[str] = []
    script = [
        reply(tool_calls=[("refund", {"order": 2}, "t1")]),
        reply(tool_calls=[("charge", {"order": 3}, "t2")]),
        text_reply("Charged 3."),
    ]
    agent = agent_for(script, ran)
    assert (await agent.run("Go", run_id="r1", store=store)).pending_approvals
    paused = await agent.run(run_id="r1", store=store, decisions={"t1": False})
    assert [c["id"] for c in paused.pending_approvals] == ["t2"] and ran == []
    stored = store.entries("r1")

    with pytest.raises(UsageError, match=r"'t1' \(refund\) was denied already \('the user denied "
                       r"this call'\), and the model was told so"):
        await agent.run(run_id="r1", store=store, decisions={"t2": True, "t1": True})
    assert store.entries("r1") == stored and store.header("r1").status == "paused"  # type: ignore[union-attr]
    assert ran == []

    # False and the reason it stands for are one decision; t2's is taken.
    done = await agent.run(
        run_id="r1", store=store, decisions={"t1": "the user denied this call", "t2": True}
    )
    assert done.text == "Charged 3." and ran == ["charge 3"]
    decided = [e.payload for e in store.entries("r1") if e.kind == "decisions"]
    assert decided == [{"decisions": {"t1": False}}, {"decisions": {"t2": True}}]


@pytest.mark.asyncio
async def test_a_changed_decision_is_refused_before_the_calls_a_crash_cut_are_answered(
    store: SQLiteStore,
) -> None:
    # The charge was approved; the notice sent first (not idempotent, marked started) died
    # with the process. A resume denying the charge was refused only after the notice's
    # "interrupted" answer went in the journal: the refused call wrote to the run.
    ran: list[str] = []

    @tool(sequential=True)
    async def notify(ctx: RunContext[None], text: str) -> str:
        """Send a notice."""
        ran.append("notify")
        if len(ran) == 1:
            raise Crash
        return "sent"

    script = [
        reply(tool_calls=[("notify", {"text": "charging"}, "t1"), ("charge", {"order": 1}, "t2")]),
        text_reply("Charged."),
    ]
    agent = agent_for(script, ran, notify)
    assert (await agent.run("Charge 1", run_id="r1", store=store)).pending_approvals
    with pytest.raises(Crash):
        await agent.run(run_id="r1", store=store, decisions={"t2": True})
    stored = store.entries("r1")
    with pytest.raises(UsageError, match=r"'t2' \(charge\) was approved already, and the call "
                       r"may have started"):
        await agent.run(run_id="r1", store=store, decisions={"t2": False})
    assert store.entries("r1") == stored and ran == ["notify"]
    done = await agent.run(run_id="r1", store=store, decisions={"t2": True})
    assert done.text == "Charged." and ran == ["notify", "charge 1"]


@pytest.mark.asyncio
async def test_decisions_given_where_no_client_can_be_made_run_nothing(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The model is asked once the approved call is answered: with no API key that fails, so
    # the call must not run first (it did, then the run failed on the key).
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    ran: list[str] = []
    keyed = agent_for(two_calls(), ran)
    assert (await keyed.run("Charge 1, refund 2", run_id="r1", store=store)).pending_approvals
    keyless = Agent(MODEL, tools=[keyed.toolset], store=store)
    with pytest.raises(UsageError, match="no API key"):
        await keyless.run(run_id="r1", decisions={"t1": True, "t2": "no"})
    assert ran == []
    done = await keyed.run(run_id="r1", store=store)  # the decisions were kept
    assert done.text == "Charged 1, did not refund 2." and ran == ["charge 1"]


@pytest.mark.asyncio
async def test_calls_an_approve_callback_leaves_undecided_are_stored_paused(
    store: SQLiteStore,
) -> None:
    # The callback decides what it can (the charge) and leaves the refund to a person: the run
    # is stored paused with the charge's decision journaled, nothing run, and the resume with
    # the person's decision asks the callback nothing more it has decided.
    ran: list[str] = []
    asked: list[str] = []

    def approve(ctx: RunContext[Any], call: dict[str, Any]) -> bool | None:
        asked.append(call["id"])
        return True if call["name"] == "charge" else None

    agent = agent_for(two_calls(), ran, approve=approve)
    paused = await agent.run("Charge 1, refund 2", run_id="r1", store=store)
    assert paused.stop_reason == "approval_required" and ran == []
    assert [c["id"] for c in paused.pending_approvals] == ["t2"] and asked == ["t1", "t2"]
    header = store.header("r1")
    assert header is not None and header.status == "paused"
    kinds = [e.kind for e in store.entries("r1")]
    assert kinds.count("decisions") == 1
    assert [e.payload for e in store.entries("r1") if e.kind == "decisions"] == [
        {"decisions": {"t1": True}}
    ]
    done = await agent.run(run_id="r1", store=store, decisions={"t2": "no refunds today"})
    assert done.text == "Charged 1, did not refund 2." and ran == ["charge 1"]
    assert asked == ["t1", "t2"]  # both decided: the callback is not asked again
