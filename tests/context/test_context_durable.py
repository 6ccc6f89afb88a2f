"""A durable run resumes after a compaction: the summary call is a journaled reply and the
policy's other inputs (token counts, an overflow) are journaled notes, so the replay takes
the same decisions and the resumed run goes on from the compacted history."""

from __future__ import annotations

from pathlib import Path

import pytest
from research import research_agent, researcher

from agentkit import RunError, SQLiteStore, validate_conversation
from agentkit.context import Compaction
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
