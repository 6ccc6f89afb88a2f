"""The viewer over a store file put back from an older copy: the runs made since, which no row
of it names, are shown from their journals (`_durable/adopt.py`), as `agentkit runs list`
shows them, once each whether or not a store adopted them meanwhile."""

from __future__ import annotations

import shutil
import time
from contextlib import closing
from pathlib import Path

from agentkit import Agent, AsyncClient, SQLiteStore
from agentkit._durable.journal import sub_run_id
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


def test_a_lost_run_s_sub_runs_are_counted_once_before_and_after_a_store_adopts_them(
    tmp_path: Path,
) -> None:
    db = tmp_path / "runs.db"
    run(db, "a", "first")
    shutil.copy(db, tmp_path / "backup.db")
    sub = sub_run_id("b", "toolu_1")
    with SQLiteStore(db) as store:
        for run_id in ("b", sub):
            lease = store.claim(run_id, fingerprint="f-p", model="m", agent="x").lease
            store.append(lease, "start", {"messages": [{"role": "user", "content": run_id}],
                                          "seed": 1, "run_id": run_id, "fingerprint": "f-p"})
            store.release(lease)
    shutil.copy(tmp_path / "backup.db", db)
    with closing(RunReader(db, clock=time.time)) as reader:
        page = reader.page()
        assert [(r.run_id, r.sub_runs) for r in page.runs] == [("b", 1), ("a", 0)]
        assert reader.sub_runs("b") == [sub]
        with SQLiteStore(db) as store:
            assert store.sub_runs("b") == [sub]  # adopted, both
        page = reader.page()
        assert [(r.run_id, r.sub_runs) for r in page.runs] == [("b", 1), ("a", 0)]
        assert page.total == 2 and reader.sub_runs("b") == [sub]
