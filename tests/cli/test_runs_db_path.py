"""`agentkit runs --db PATH` given a path that is no store file: one message naming the path
and what to give instead, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentkit import Agent, AsyncClient, SQLiteStore
from agentkit.cli.main import main
from agentkit.testing import ScriptedTransport, text_reply


@pytest.mark.parametrize("action", [["list"], ["show", "r1"], ["rm", "r1", "--yes"]])
def test_a_folder_given_as_the_store_says_so_and_names_the_store_file_beside_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], action: list[str]
) -> None:
    # The journals folder (or any folder) was "no run store at PATH": as if nothing were there.
    db = tmp_path / "runs.db"
    client = AsyncClient(api_key="sk-test", transport=ScriptedTransport([text_reply("ok")]))
    with SQLiteStore(db) as store:
        Agent("m", client=client).run_sync("hi", run_id="r1", store=store)
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
