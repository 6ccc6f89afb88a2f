"""A store's folder of journals (`_durable/folder.py`): a journal no row names is never emptied.

A store file put back from an older copy names fewer runs than its folder holds journals of:
SQLite gives a new run the key of a run made after the copy, whose journal (its only record)
a new run used to empty. Such a journal is its run's again (`_durable/adopt.py`); one whose
start names no run is kept as it is."""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

from agentkit import Agent, AsyncClient, SQLiteStore
from agentkit._durable.folder import unnamed
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
        # Given b's key by SQLite, the new run emptied b's journal: b was lost. Now b and c
        # are their journals' runs again (`adopt.py`), and d is given the key past them.
        assert answered("d").run_sync("D", run_id="d", store=store).text == "d"
        assert [e.payload for e in store.entries("b")] == newer
        assert store.entries("d")[-1].payload["status"] == "finished"
        again = answered("unused").run_sync("D", run_id="d", store=store)  # stored, no call
        assert again.text == "d"
    assert [e.payload for e in read(b_journal).entries] == newer
    assert sorted(p.name for p in folder.iterdir()) == ["1.log", "2.log", "3.log", "4.log"]
    with closing(sqlite3.connect(db)) as rows:
        keys = [key for (key,) in rows.execute("SELECT id FROM runs")]
        assert unnamed(str(folder), lambda: keys) == []
    # A journal no row names whose start names no run (an agentkit before starts named
    # theirs) is kept as it is, found, and a new run given its key takes the one past it.
    (folder / "5.log").write_bytes(Path(b_journal).read_bytes().replace(b'"run_id"', b'"x"'))
    assert unnamed(str(folder), lambda: keys) == [str(folder / "5.log")]
    with SQLiteStore(db) as store:
        assert answered("e").run_sync("E", run_id="e", store=store).text == "e"
        assert store.header("x") is None
    assert sorted(p.name for p in folder.iterdir())[-2:] == ["5.log", "6.log"]
    # The newer store file put back finds its runs whole, and the run made meanwhile (d, no
    # row of it names) is its journal's again.
    put_back(tmp_path / "newer.db", db)
    with SQLiteStore(db) as store:
        assert [e.payload for e in store.entries("b")] == newer
        assert answered("unused").run_sync("B", run_id="b", store=store).text == "b"
        assert answered("unused").run_sync("D", run_id="d", store=store).text == "d"


def test_a_new_run_given_an_empty_file_at_its_key_takes_it(tmp_path: Path) -> None:
    # An empty file (a claim whose transaction did not commit made it) holds no run: reused.
    db, folder = tmp_path / "runs.db", tmp_path / "runs.db.journals"
    with SQLiteStore(db) as store:
        answered("a").run_sync("A", run_id="a", store=store)
        (folder / "2.log").touch()
        answered("b").run_sync("B", run_id="b", store=store)
    assert sorted(p.name for p in folder.iterdir()) == ["1.log", "2.log"]
    assert read(str(folder / "2.log")).entries[0].payload["run_id"] == "b"
