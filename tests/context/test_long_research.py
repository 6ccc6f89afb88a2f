"""The long-research recipe: 60+ tool rounds offline inside a small window, thanks to its
context policy (the offline model answers "prompt is too long" past the window)."""

from __future__ import annotations

import pytest

from agentkit.events import AgentEvent, ContextEdited, ModelRequest, ToolCallFinished
from agentkit.workflows import recipes, run_recipe


@pytest.mark.asyncio
async def test_long_research_reads_64_files_inside_a_small_window() -> None:
    events: list[AgentEvent] = []
    result = await run_recipe(
        recipes()["long-research"], {"window": "30000"}, online=False, on_event=events.append
    )
    reads = [e for e in events if isinstance(e, ToolCallFinished) and e.name == "read_file"]
    assert len(reads) == 64 and not any(e.is_error for e in reads)
    assert result.output.startswith("Read 64 files")
    assert [e.kind for e in events if isinstance(e, ContextEdited)].count("compaction") >= 2
    sizes = [len(str(e.params)) // 4 for e in events if isinstance(e, ModelRequest)]
    assert max(sizes) < 30_000
