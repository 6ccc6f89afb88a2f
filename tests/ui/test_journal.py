"""What the viewer reads from a run's journal beyond the engine's inputs: a paused run's status
entry lists the calls awaiting a decision, and only those (a call next to them that needs no
approval waits for nothing: it runs when the run resumes)."""

from __future__ import annotations

import pytest
from ui_runs import Runs


@pytest.mark.asyncio
async def test_a_paused_status_lists_the_calls_awaiting_a_decision(runs: Runs) -> None:
    await runs.paused()  # a turn calling lookup (no approval needed) and charge (needed)
    last = runs.store.entries("charge-1")[-1]
    assert last.kind == "status"
    assert last.payload == {"status": "paused", "reason": "approval_required",
                            "awaiting": ["toolu_c1"]}
