"""What the viewer reads from a run's journal beyond the engine's inputs: a paused run's status
entry lists the calls awaiting a decision, and only those (a call next to them that needs no
approval waits for nothing: it runs when the run resumes); and a journal's first record (the
prompt the list shows and searches) read alone."""

from __future__ import annotations

from pathlib import Path

import pytest
from ui_runs import Runs

from agentkit._durable.records import MAGIC, encode, encode_framed, first


@pytest.mark.asyncio
async def test_a_paused_status_lists_the_calls_awaiting_a_decision(runs: Runs) -> None:
    await runs.paused()  # a turn calling lookup (no approval needed) and charge (needed)
    last = runs.store.entries("charge-1")[-1]
    assert last.kind == "status"
    assert last.payload == {"status": "paused", "reason": "approval_required",
                            "awaiting": ["toolu_c1"]}


@pytest.mark.parametrize("framed", [False, True], ids=["lines", "framed (format 3)"])
def test_the_first_record_is_read_alone_and_only_when_whole(tmp_path: Path, framed: bool) -> None:
    path = tmp_path / "1.log"
    assert first(str(path)) is None  # no journal yet
    big = {"messages": [{"role": "user", "content": "x" * 10_000}]}  # past the first read
    write, head = (encode_framed, b"") if framed else (encode, MAGIC)
    record = head + write([("start", big)], 0, 5.0, None)
    path.write_bytes(record + write([("reply", {})], 1, 6.0, None))
    found = first(str(path))
    assert found is not None and (found.seq, found.kind, found.payload, found.at) == (
        1, "start", big, 5.0
    )
    path.write_bytes(record[:-1])  # cut short by a crash mid-write
    assert first(str(path)) is None
    path.write_bytes(record[:5])
    assert first(str(path)) is None
