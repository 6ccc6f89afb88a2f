"""A store's folder of journals (`_durable/folder.py`): a journal no row names is never emptied.

A store file put back from an older copy names fewer runs than its folder holds journals of:
SQLite gives a new run the key of a run made after the copy, whose journal (its only record)
a new run used to empty."""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

from agentkit import Agent, AsyncClient, SQLiteStore
from agentkit._durable.folder import journal_of, unnamed
from agentkit._durable.records import read
from agentkit.testing import ScriptedTransport, text_reply

MODEL = "claude-sonnet-4-5"


def answered(text: str) -> Agent[str]:
    """An agent whose model answers `text` once."""
    client = AsyncClient(api_key="sk-test", transport=ScriptedTransport([text_reply(text)]))
    return Agent(MODEL, client=client)


def put_back(copy: Path, db: Path) -> None:
    """Put the store file `copy` back at `db` (its WAL files gone with the store it was)."""
    for stale in (db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        stale.unlink(missing_ok=True)
    shutil.copy(copy, db)


def test_a_store_file_put_back_from_an_older_copy_keeps_the_newer_runs_journals(
    tmp_path: Path,
) -> None:
    db, folder = tmp_path / "runs.db", tmp_path / "runs.db.journals"
    with SQLiteStore(db) as store:
        answered("a").run_sync("A", run_id="a", store=store)
    shutil.copy(db, tmp_path / "backup.db")
    with SQLiteStore(db) as store:
        answered("b").run_sync("B", run_id="b", store=store)
        answered("c").run_sync("C", run_id="c", store=store)
        newer = [e.payload for e in store.entries("b")]
    shutil.copy(db, tmp_path / "newer.db")
    b_journal = str(folder / "2.log")
    assert [e.payload for e in read(b_journal).entries] == newer
    put_back(tmp_path / "backup.db", db)
    with SQLiteStore(db) as store:
        # Given b's key by SQLite, the new run emptied b's journal: b was lost.
        assert answered("d").run_sync("D", run_id="d", store=store).text == "d"
        assert store.header("b") is None
        assert store.entries("d")[-1].payload["status"] == "finished"
        again = answered("unused").run_sync("D", run_id="d", store=store)  # stored, no call
        assert again.text == "d"
    assert [e.payload for e in read(b_journal).entries] == newer
    assert sorted(p.name for p in folder.iterdir()) == ["1.log", "2.log", "3.log", "4.log"]
    with closing(sqlite3.connect(db)) as rows:  # b's and c's are no row's: found, told apart
        keys = [key for (key,) in rows.execute("SELECT id FROM runs")]
    lost = unnamed(str(folder), lambda: keys)
    assert lost == [b_journal, str(folder / "3.log")]
    assert journal_of("b", lost) == b_journal and journal_of("d", lost) is None
    # The newer store file put back finds its runs whole, the run made meanwhile unnamed.
    put_back(tmp_path / "newer.db", db)
    with SQLiteStore(db) as store:
        assert [e.payload for e in store.entries("b")] == newer
        assert answered("unused").run_sync("B", run_id="b", store=store).text == "b"
        assert store.header("d") is None


def test_a_new_run_given_an_empty_file_at_its_key_takes_it(tmp_path: Path) -> None:
    # An empty file (a claim whose transaction did not commit made it) holds no run: reused.
    db, folder = tmp_path / "runs.db", tmp_path / "runs.db.journals"
    with SQLiteStore(db) as store:
        answered("a").run_sync("A", run_id="a", store=store)
        (folder / "2.log").touch()
        answered("b").run_sync("B", run_id="b", store=store)
    assert sorted(p.name for p in folder.iterdir()) == ["1.log", "2.log"]
    assert read(str(folder / "2.log")).entries[0].payload["run_id"] == "b"
