"""`agentkit runs --db PATH` given a path that is no store file: one message naming the path
and what to give instead, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentkit import Agent, AsyncClient, SQLiteStore
from agentkit.cli.main import main
from agentkit.testing import ScriptedTransport, text_reply


def _stored_run(folder: Path) -> Path:
    """A store file in `folder` holding one finished run, `r1`."""
    db = folder / "runs.db"
    client = AsyncClient(api_key="sk-test", transport=ScriptedTransport([text_reply("ok")]))
    with SQLiteStore(db) as store:
        Agent("m", client=client).run_sync("hi", run_id="r1", store=store)
    return db


@pytest.mark.parametrize("action", [["list"], ["show", "r1"], ["rm", "r1", "--yes"]])
def test_a_folder_given_as_the_store_says_so_and_names_the_store_file_beside_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], action: list[str]
) -> None:
    # The journals folder (or any folder) was "no run store at PATH": as if nothing were there.
    db = _stored_run(tmp_path)
    journals = tmp_path / "runs.db.journals"
    assert main(["runs", *action, "--db", str(journals)]) == 2
    assert capsys.readouterr().err == (
        f"error: {journals} is a folder, not a run store file; give the --db of the store file "
        f"beside it: --db {db}\n"
    )
    other = tmp_path / "elsewhere"
    other.mkdir()
    assert main(["runs", *action, "--db", str(other)]) == 2
    assert f"{other} is a folder, not a run store file; " in capsys.readouterr().err
    with SQLiteStore(db) as store:
        assert store.header("r1") is not None  # nothing deleted


@pytest.mark.parametrize(
    "action",
    [["list"], ["show", "r1"], ["rm", "r1", "--yes"], ["resume", "r1", "--agent", "m:a"]],
)
def test_a_store_file_gone_from_beside_its_journals_says_so_and_to_put_it_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], action: list[str]
) -> None:
    # It said "no run store at PATH", as if there had never been one: the runs look lost.
    db = _stored_run(tmp_path)
    db.rename(tmp_path / "moved.db")
    assert main(["runs", *action, "--db", str(db)]) == 2
    assert capsys.readouterr().err == (
        f"error: the run store file {db} is missing, but its journals folder {db}.journals is "
        "there (holding the journals of 1 run): the store file was deleted or moved, and a run "
        "is its row there and its journal here. Put the file back (from a backup if it was "
        f"deleted), or make it again from the journals (`agentkit runs rebuild --db {db}`), "
        "then run the command again; nothing was changed\n"
    )
    assert not db.exists()  # nothing made in its place
    (tmp_path / "moved.db").rename(db)
    assert main(["runs", "list", "--db", str(db)]) == 0


def test_a_store_file_never_made_is_no_run_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "runs.db"
    assert main(["runs", "list", "--db", str(db)]) == 2
    assert capsys.readouterr().err == (
        f"error: no run store at {db}; give the --db of a store that durable runs wrote\n"
    )
