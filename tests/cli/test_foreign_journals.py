"""`agentkit runs show` and the viewer (`agentkit ui`'s `RunReader`) on a store whose file was
paired with another store's journals: each says whose journal it found and what to do, and
shows nothing of the other run's conversation."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest

from agentkit import SQLiteStore
from agentkit.cli.main import main
from agentkit.cli.viewer.reader import RunReader

FOREIGN = (
    "is not run 'orders'.s: it is run 'refunds'.s .*do not belong together.*Put back the "
    "journals folder saved with this store file, then read the run again"
)


def stored(path: Path, run_id: str, fingerprint: str, prompt: str) -> None:
    with SQLiteStore(path) as store:
        lease = store.claim(run_id, fingerprint=fingerprint, model="m", agent="a").lease
        start = {
            "run_id": run_id,
            "fingerprint": fingerprint,
            "seed": 1,
            "messages": [{"role": "user", "content": prompt}],
        }
        store.append_many(lease, [("start", start), ("status", {"status": "finished"})])
        store.release(lease)


@pytest.fixture
def paired(tmp_path: Path) -> Path:
    """Store `a/runs.db` (run `orders`) beside the journals of store `b` (run `refunds`)."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    stored(a / "runs.db", "orders", "a1-p1", "Charge order 7")
    stored(b / "runs.db", "refunds", "a2-p2", "Refund the secret order 9")
    shutil.rmtree(a / "runs.db.journals")
    shutil.copytree(b / "runs.db.journals", a / "runs.db.journals")
    return a / "runs.db"


def test_runs_show_of_a_run_with_another_run_s_journal_says_so_and_shows_none_of_it(
    paired: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["runs", "show", "orders", "--db", str(paired)]) == 1
    captured = capsys.readouterr()
    assert "secret" not in captured.out + captured.err
    assert re.search(FOREIGN, " ".join(captured.err.split()))  # however the lines wrap


def test_the_viewer_shows_a_run_with_another_run_s_journal_as_unreadable_saying_why(
    paired: Path,
) -> None:
    reader = RunReader(paired, clock=time.time)
    try:
        found = reader.run("orders")
        assert found is not None
        run, entries = found
        assert entries == [] and run.prompt == ""
        assert run.unreadable is not None and re.search(FOREIGN, run.unreadable)
        assert reader.page(text="secret").runs == []  # the other run's prompt is no match
        (listed,) = reader.page().runs
        assert listed.prompt == "" and listed.unreadable is not None
    finally:
        reader.close()
