"""The viewer over a store file put back from an older copy: the runs made since, which no row
of it names, are shown from their journals (`_durable/adopt.py`), as `agentkit runs list`
shows them, once each whether or not a store adopted them meanwhile."""

from __future__ import annotations

import shutil
import time
from contextlib import closing
from pathlib import Path

from agentkit import Agent, AsyncClient, SQLiteStore
from agentkit.cli.viewer import RunReader
from agentkit.testing import ScriptedTransport, text_reply


def run(db: Path, run_id: str, prompt: str) -> None:
    client = AsyncClient(api_key="sk-test", transport=ScriptedTransport([text_reply(run_id)]))
    with SQLiteStore(db) as store:
        Agent("claude-sonnet-4-5", client=client).run_sync(prompt, run_id=run_id, store=store)


def test_the_viewer_shows_the_runs_the_store_file_put_back_lost(tmp_path: Path) -> None:
    # The viewer showed a alone: b was in no listing, though its journal was whole.
    db = tmp_path / "runs.db"
    run(db, "a", "first")
    shutil.copy(db, tmp_path / "backup.db")
    run(db, "b", "second")
    with closing(RunReader(db, clock=time.time)) as reader:
        (before, _) = reader.page().runs
    shutil.copy(tmp_path / "backup.db", db)
    with closing(RunReader(db, clock=time.time)) as reader:
        page = reader.page()
        assert [r.run_id for r in page.runs] == ["b", "a"] and page.total == 2
        assert page.counts == {"finished": 2} and reader.unnamed() == []
        b = page.runs[0]
        assert (b.status, b.turns, b.prompt, b.entries) == ("finished", 1, "second", 3)
        assert (b.input_tokens, b.output_tokens, b.cost_usd) == (
            before.input_tokens, before.output_tokens, before.cost_usd)
        found = reader.run("b")
        assert found is not None and [e.kind for e in found[1]] == ["start", "reply", "status"]
        assert reader.page(text="second").total == 1
        with SQLiteStore(db) as store:  # adopted by a store: its row, shown once
            assert store.header("b") is not None
            assert [r.run_id for r in reader.page().runs] == ["b", "a"]
            assert store.delete("b")
        assert [r.run_id for r in reader.page().runs] == ["a"] and reader.run("b") is None
