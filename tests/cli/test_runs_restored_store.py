"""`agentkit runs` over a store file put back from an older copy: the journals of the runs
made since, which no row of it names, are named (`list` warns, `show` of such a run says
where its journal is), never taken for absent."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agentkit import Agent, AsyncClient, SQLiteStore
from agentkit.cli.main import main
from agentkit.testing import ScriptedTransport, text_reply


def run(db: Path, run_id: str) -> None:
    client = AsyncClient(api_key="sk-test", transport=ScriptedTransport([text_reply(run_id)]))
    with SQLiteStore(db) as store:
        Agent("claude-sonnet-4-5", client=client).run_sync("hi", run_id=run_id, store=store)


def test_list_and_show_name_the_journals_of_runs_the_store_file_put_back_does_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, folder = tmp_path / "runs.db", tmp_path / "runs.db.journals"
    run(db, "a")
    shutil.copy(db, tmp_path / "backup.db")
    run(db, "b")
    shutil.copy(tmp_path / "backup.db", db)
    run(db, "d")  # given b's key by SQLite: b's journal is kept, d given the next key
    capsys.readouterr()
    assert main(["runs", "list", "--db", str(db)]) == 0
    listed = capsys.readouterr()
    assert " d " in listed.out and " a " in listed.out and " b " not in listed.out
    assert listed.err == (
        f"warning: 1 journal in {folder} belongs to no run of {db} (2.log): runs made after "
        "the store file was copied, when that copy was put back (put the newer file back to "
        "list them), or runs whose delete was cut short. They are kept as they are "
        "(`agentkit runs show ID` names a run's)\n"
    )
    assert main(["runs", "show", "b", "--db", str(db)]) == 2
    assert capsys.readouterr().err == (
        f"error: no run 'b' in {db}, but its journal is in the store's folder: "
        f"{folder}/2.log, which no run of the store file names (the file was put back from a "
        "copy made before the run, or a delete of the run was cut short). Put back the store "
        "file that names it to show it; the journal is kept as it is\n"
    )
    assert main(["runs", "show", "x", "--db", str(db)]) == 2
    assert capsys.readouterr().err == (
        f"error: no run 'x' in {db}; `agentkit runs list --db {db}` shows the runs\n"
    )
