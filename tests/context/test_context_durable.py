"""A durable run resumes after a compaction: the summary call is a journaled reply and the
policy's other inputs (token counts, an overflow) are journaled notes, so the replay takes
the same decisions and the resumed run goes on from the compacted history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from research import research_agent, researcher

from agentkit import Agent, RunError, RunMismatchError, SQLiteStore, validate_conversation
from agentkit._run.durable import Journal
from agentkit.context import Auto, Compaction, ServerCompaction, Trim
from agentkit.testing import Fault, ScriptedTransport, with_faults


@pytest.mark.parametrize("trigger", [12_000, 500_000], ids=["estimate", "overflow"])
def test_a_durable_run_resumes_after_a_compaction(tmp_path: Path, trigger: int) -> None:
    model = researcher(24)
    broken = with_faults(model, {20: Fault.error(400, message="scripted failure")})
    policy = Compaction(trigger_tokens=trigger)
    with SQLiteStore(tmp_path / "runs.db") as store:
        first = research_agent(ScriptedTransport(broken, context_window=20_000), context=policy)
        with pytest.raises(RunError, match="scripted failure"):
            first.run_sync("Research the answer.", run_id="r1", store=store)
        kinds = [e.kind for e in store.entries("r1")]
        assert "context" in kinds  # a count near the trigger, or the overflow
        again = ScriptedTransport(model, context_window=20_000)
        second = research_agent(again, context=policy)
        result = second.run_sync("Research the answer.", run_id="r1", store=store)
    assert result.text == "Read 24 pages: the answer is 42."
    assert "Read pages 0 to 24" in result.messages[0]["content"][-1]["text"]
    validate_conversation(result.messages)
    # The resumed process sent the compacted history, not the whole one.
    resumed = again.requests[0].body["messages"]
    assert "Read pages 0 to 24" in str(resumed[0]) and len(resumed) < 2 * 20


def _shape(messages: list[dict[str, object]]) -> list[list[str]]:
    return [[str(b.get("type")) for b in m["content"]] for m in messages]  # type: ignore[union-attr]


def _without_ids(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conversation with its tool call ids left out (a fake model draws them anew)."""
    return [
        {**m, "content": [
            {k: v for k, v in b.items() if k not in ("id", "tool_use_id")} for b in m["content"]
        ]} if isinstance(m["content"], list) else m
        for m in messages
    ]


@pytest.mark.parametrize(
    ("policy", "model", "betas"),
    [
        (Trim(trigger_tokens=12_000), "claude-sonnet-4-5", None),
        (Auto(trigger_tokens=50_000), "claude-opus-4-6", ()),  # the fallback is journaled
        (ServerCompaction(trigger_tokens=50_000), "claude-opus-4-6", None),
    ],
    ids=["trim", "auto-fallback", "server-compaction"],
)
def test_a_resumed_run_ends_as_an_uninterrupted_one(
    tmp_path: Path, policy: object, model: str, betas: tuple[str, ...] | None
) -> None:
    window, pages = (20_000, 4000) if isinstance(policy, Trim) else (60_000, 16_000)

    def agent(transport: ScriptedTransport) -> Agent[str]:
        return research_agent(transport, model=model, page_chars=pages, context=policy)

    whole = agent(ScriptedTransport(researcher(20), context_window=window, betas=betas))
    expected = whole.run_sync("Research the answer.")
    model_fn = researcher(20)
    broken = with_faults(model_fn, {17: Fault.error(400, message="scripted failure")})
    with SQLiteStore(tmp_path / "runs.db") as store:
        first = agent(ScriptedTransport(broken, context_window=window, betas=betas))
        with pytest.raises(RunError, match="scripted failure"):
            first.run_sync("Research the answer.", run_id="r1", store=store)
        again = agent(ScriptedTransport(model_fn, context_window=window, betas=betas))
        result = again.run_sync("Research the answer.", run_id="r1", store=store)
    assert result.text == expected.text == "Read 20 pages: the answer is 42."
    assert _shape(result.messages) == _shape(expected.messages)
    assert _without_ids(result.messages) == _without_ids(expected.messages)  # trims too
    assert result.state.context.get("compactions") == expected.state.context.get("compactions")


def test_a_journal_begun_before_the_policy_decisions_were_journaled_is_sized_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An agentkit from before wrote no trim notes: its journal replays by sizing each request
    # again (the turn's tools listed), and a resume goes on writing none (read back both ways,
    # the history would be cut twice).
    def old_start(self: Journal, messages: Any, seed: int, fingerprint: str) -> None:
        payload = {"messages": list(messages), "seed": seed, "run_id": self.run_id}
        self._commit("start", {**payload, "fingerprint": fingerprint})  # pyright: ignore[reportPrivateUsage]
        self.context_decisions = False  # nor did that agentkit write them

    policy = Trim(trigger_tokens=12_000)
    expected = research_agent(ScriptedTransport(researcher(20), context_window=20_000),
                              context=policy).run_sync("Research the answer.")
    model_fn = researcher(20)
    broken = with_faults(model_fn, {17: Fault.error(400, message="scripted failure")})
    with SQLiteStore(tmp_path / "runs.db") as store:
        with monkeypatch.context() as patched:
            patched.setattr(Journal, "start", old_start)
            first = research_agent(ScriptedTransport(broken, context_window=20_000),
                                   context=policy)
            with pytest.raises(RunError, match="scripted failure"):
                first.run_sync("Research the answer.", run_id="r1", store=store)
        again = research_agent(ScriptedTransport(model_fn, context_window=20_000), context=policy)
        result = again.run_sync("Research the answer.", run_id="r1", store=store)
        entries = store.entries("r1")
    assert "context_decisions" not in entries[0].payload
    notes = [e.payload for e in entries if e.kind == "context"]
    assert result.text == expected.text
    assert _without_ids(result.messages) == _without_ids(expected.messages)
    assert not any("trim" in n for n in notes)


@pytest.mark.parametrize(
    "other",
    [None, Trim(trigger_tokens=12_000), Compaction(trigger_tokens=12_000, keep_turns=3)],
    ids=["no-policy", "another-kind", "another-keep-turns"],
)
def test_a_run_resumed_under_another_context_policy_is_refused_and_nothing_changes(
    tmp_path: Path, other: Trim | Compaction | None
) -> None:
    # Replayed under another policy, the summary reply would be taken for an answer (or the
    # history cut elsewhere): the run would go on from a conversation it never had.
    broken = with_faults(researcher(24), {20: Fault.error(400, message="scripted failure")})
    policy = Compaction(trigger_tokens=12_000)
    with SQLiteStore(tmp_path / "runs.db") as store:
        first = research_agent(ScriptedTransport(broken, context_window=20_000), context=policy)
        with pytest.raises(RunError, match="scripted failure"):
            first.run_sync("Research the answer.", run_id="r1", store=store)
        before = (store.header("r1"), store.entries("r1"))
        again = ScriptedTransport(researcher(24), context_window=20_000)
        with pytest.raises(RunMismatchError, match="a different agent") as raised:
            research_agent(again, context=other).run_sync(
                "Research the answer.", run_id="r1", store=store
            )
        assert "context policy" in str(raised.value)
        assert (store.header("r1"), store.entries("r1")) == before
        assert again.requests == []
        # A setting that only shapes the summary request (its prompt) may change: it resumes.
        resumed = research_agent(
            ScriptedTransport(researcher(24), context_window=20_000),
            context=Compaction(trigger_tokens=12_000, prompt="Summarize what you read."),
        ).run_sync("Research the answer.", run_id="r1", store=store)
    assert resumed.text == "Read 24 pages: the answer is 42."
