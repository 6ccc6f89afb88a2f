"""`agentkit runs` over a store file put back from an older copy: the runs made since, which no
row of it names, are their journals' runs (`_durable/adopt.py`): listed, shown, deleted as any
run; a journal no run can be told from is named in a warning, never taken for absent."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agentkit import Agent, AsyncClient, SQLiteStore
from agentkit.cli.main import main
from agentkit.errors import StoreError
from agentkit.testing import ScriptedTransport, text_reply


def run(db: Path, run_id: str) -> None:
    client = AsyncClient(api_key="sk-test", transport=ScriptedTransport([text_reply(run_id)]))
    with SQLiteStore(db) as store:
        Agent("claude-sonnet-4-5", client=client).run_sync("hi", run_id=run_id, store=store)


def test_list_show_and_rm_take_the_runs_the_store_file_put_back_lost_for_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # They were "no run 'b'", with a warning to put the newer store file back (there may be
    # none: a backup restored after a disk failure).
    db, folder = tmp_path / "runs.db", tmp_path / "runs.db.journals"
    run(db, "a")
    shutil.copy(db, tmp_path / "backup.db")
    run(db, "b")
    shutil.copy(tmp_path / "backup.db", db)
    capsys.readouterr()
    assert main(["runs", "list", "--db", str(db)]) == 0
    listed = capsys.readouterr()
    assert " a " in listed.out and " b " in listed.out and listed.err == ""
    assert main(["runs", "show", "b", "--db", str(db)]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith("run b: finished, claude-sonnet-4-5, 1 turns") and "claude: b" in shown
    assert main(["runs", "rm", "b", "--db", str(db), "--yes"]) == 0
    assert sorted(p.name for p in folder.iterdir()) == ["1.log"]  # gone for good
    capsys.readouterr()
    assert main(["runs", "show", "b", "--db", str(db)]) == 2
    assert capsys.readouterr().err == (
        f"error: no run 'b' in {db}; `agentkit runs list --db {db}` shows the runs\n"
    )


def test_list_names_a_journal_no_run_can_be_told_from(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, folder = tmp_path / "runs.db", tmp_path / "runs.db.journals"
    run(db, "a")
    journal = (folder / "1.log").read_bytes()
    (folder / "7.log").write_bytes(journal.replace(b'"run_id"', b'"named"'))  # names no run
    capsys.readouterr()
    assert main(["runs", "list", "--db", str(db)]) == 0
    assert capsys.readouterr().err == (
        f"warning: 1 journal in {folder} belongs to no run of {db} (7.log): no run can be "
        "told from it (a start naming no run, written by an agentkit before journals named "
        "theirs; a journal that cannot be read; or one of a run the store has under another "
        "journal, an older agentkit's delete cut short). Kept as it is; nothing runs from it\n"
    )


def test_rebuild_makes_a_deleted_store_file_again_from_its_journals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # With the store file deleted, every command said to put it back; with no backup, the
    # runs were lost although their journals hold everything. `rebuild` makes the file again.
    db = tmp_path / "runs.db"
    run(db, "a")
    run(db, "b")
    db.unlink()
    (tmp_path / "runs.db-wal").write_bytes(b"the deleted file's")
    capsys.readouterr()
    assert main(["runs", "rebuild", "--db", str(db)]) == 2  # SQLite would read it as the new
    assert capsys.readouterr().err == (  # file's: its pages are the deleted one's
        f"error: {db}-wal is left of the deleted store file {db}: move it out of the folder "
        "(the journals hold every run), then rebuild; nothing was changed\n"
    )
    (tmp_path / "runs.db-wal").unlink()
    assert main(["runs", "list", "--db", str(db)]) == 2
    assert f"agentkit runs rebuild --db {db}" in capsys.readouterr().err
    with pytest.raises(StoreError, match=f"agentkit runs rebuild --db {db}"):
        SQLiteStore(db)
    assert main(["runs", "rebuild", "--db", str(db)]) == 0
    assert capsys.readouterr().out == f"rebuilt {db} from its journals: 2 runs\n"
    with SQLiteStore(db) as store:
        assert [r.run_id for r in store.runs()] == ["b", "a"]
        assert store.header("b").status == "finished"  # type: ignore[union-attr]
    # A resume of a rebuilt run returns its stored answer: nothing is run again.
    never = AsyncClient(api_key="sk-test", transport=ScriptedTransport([]))
    with SQLiteStore(db) as store:
        done = Agent("claude-sonnet-4-5", client=never).run_sync("hi", run_id="b", store=store)
    assert done.text == "b"


def test_rebuild_refuses_a_store_file_that_is_there_or_journals_that_are_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "runs.db"
    assert main(["runs", "rebuild", "--db", str(db)]) == 2
    assert capsys.readouterr().err == (
        f"error: nothing to rebuild {db} from: no journals folder {db}.journals holding "
        "journals; give the --db of a store that durable runs wrote\n"
    )
    assert not db.exists()
    run(db, "a")
    capsys.readouterr()
    assert main(["runs", "rebuild", "--db", str(db)]) == 2
    assert capsys.readouterr().err == (
        f"error: the run store file {db} is there: nothing to rebuild (a run whose row it "
        f"lost is taken back from its journal when the store is used: `agentkit runs list "
        f"--db {db}`)\n"
    )
