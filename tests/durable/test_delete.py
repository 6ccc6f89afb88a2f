"""Deleting a run (`SQLiteStore.delete`) against a SIGKILL at any instant (never a journal left
that no row names: the store would adopt it back as the run, `_durable/adopt.py`) and against
a new run given the deleted one's key (row ids are reused) while a delete of an older
agentkit, which removed the row first, finishes; a sub-run deleted alone only when nothing
would run the call that made it again."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
from contextlib import closing
from pathlib import Path

import pytest

from agentkit import UsageError
from agentkit._durable import log as log_module
from agentkit._durable.journal import RunStatus, Summary, sub_run_id
from agentkit._durable.log import RunLog
from agentkit._durable.records import read
from agentkit._durable.schema import journals
from agentkit._durable.sqlite import SQLiteStore
from agentkit.errors import StoreError

ROOT = Path(__file__).resolve().parents[2]
START = {"messages": [{"role": "user", "content": "Charge 1"}], "run_id": "old"}

DELETER = """
import os, signal, sys
from agentkit._durable.sqlite import SQLiteStore

store = SQLiteStore(sys.argv[1])
unlink = os.unlink

def killed(path, *args, **kwargs):
    if sys.argv[2] == "after-unlink":
        unlink(path, *args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)

os.unlink = killed  # the delete's only unlink is its journal's
store.delete("old")
"""

# The delete killed the moment its transaction, which removes the row, commits.
COMMITTED = """
import os, signal, sys
from agentkit._durable.sqlite import SQLiteStore

class Dying:
    def __init__(self, db):
        self.db, self.deleted = db, False

    def execute(self, sql, *args):
        done = self.db.execute(sql, *args)
        self.deleted = self.deleted or sql.startswith("DELETE FROM runs")
        if sql == "COMMIT" and self.deleted:
            os.kill(os.getpid(), signal.SIGKILL)
        return done

    def __getattr__(self, name):
        return getattr(self.db, name)

store = SQLiteStore(sys.argv[1])
store.header("old")  # its first use made
store._db = Dying(store._db)
store.delete("old")
"""


def stored(path: Path, run_id: str, *payloads: dict[str, object]) -> None:
    """Store run `run_id` with `payloads` (a start, then replies) and release it."""
    with SQLiteStore(path) as store:
        lease = store.claim(run_id, fingerprint="f-p", model="m", agent="a").lease
        for i, payload in enumerate(payloads):
            store.append(lease, "reply" if i else "start", payload)
        store.release(lease)


def row_first(path: Path) -> None:
    """Delete run `old` (the store's only run) as an older agentkit did: its row first, then
    its journal, unlinked under its lock and the folder's (`deleting`)."""
    folder = journals(str(path))
    with log_module.deleting(folder):
        log = RunLog.take(f"{folder}/1.log", existing=True)
        assert log is not None
        with closing(sqlite3.connect(path)) as db, db:
            db.execute("DELETE FROM runs WHERE run_id = 'old'")
        log.unlink()
        log.close()


def deleting(path: Path, deleted: threading.Event) -> tuple[threading.Thread, list[BaseException]]:
    """Run `old`'s delete, as an older agentkit made it (`row_first`), in a thread (started),
    setting `deleted` when it ends; what it raised is put in the list."""
    failed: list[BaseException] = []

    def delete() -> None:
        try:
            row_first(path)
        except BaseException as exc:  # reported by the test
            failed.append(exc)
        finally:
            deleted.set()

    deleter = threading.Thread(target=delete)
    deleter.start()
    return deleter, failed


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
@pytest.mark.parametrize("instant", ["before-unlink", "after-unlink"])
def test_a_delete_killed_at_any_instant_leaves_the_run_whole_or_refused_and_its_key_reusable(
    tmp_path: Path, instant: str
) -> None:
    path = tmp_path / "runs.db"
    stored(path, "old", START, {"n": 1})
    (journal,) = (tmp_path / "runs.db.journals").iterdir()
    deleter = subprocess.run(
        [sys.executable, "-c", DELETER, str(path), instant], cwd=ROOT, check=False
    )
    assert deleter.returncode == -signal.SIGKILL
    with SQLiteStore(path) as store:
        # The journal goes first, the row last, when the delete commits: killed before, the
        # row is there, and the run whole or refused (not started afresh, nor adopted back).
        assert store.header("old") is not None
        if instant == "before-unlink":  # nothing was deleted
            assert [e.payload for e in store.entries("old")] == [START, {"n": 1}]
        else:
            with pytest.raises(StoreError) as refused:
                store.claim("old", fingerprint="f-p", model="m", agent="a")
            assert f"delete the run (`agentkit runs rm old --db {path}`)" in str(refused.value)
        assert store.delete("old")  # the row without its journal too
        assert store.header("old") is None and store.entries("old") == []
        # A new run given the key (the highest: SQLite gives it again) starts afresh.
        fresh = store.claim("new", fingerprint="f-q", model="m", agent="a")
        assert fresh.created and store.entries("new") == []
        assert store.append(fresh.lease, "start", {"run_id": "new"}) == 1
        store.release(fresh.lease)
        assert [e.payload for e in store.entries("new")] == [{"run_id": "new"}]
    assert [p.name for p in (tmp_path / "runs.db.journals").iterdir()] == [journal.name]


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_a_delete_killed_once_its_row_is_gone_leaves_no_journal_to_bring_the_run_back(
    tmp_path: Path,
) -> None:
    # The row went first, the journal after: killed between, the journal was left with no
    # row naming it, which a store opened then adopts back as the run (`adopt.py`): deleted,
    # the run came back, and ran on from where it was.
    path = tmp_path / "runs.db"
    stored(path, "old", {**START, "fingerprint": "f-p"}, {"n": 1})
    deleter = subprocess.run(
        [sys.executable, "-c", COMMITTED, str(path)], cwd=ROOT, check=False
    )
    assert deleter.returncode == -signal.SIGKILL
    with SQLiteStore(path) as store:
        assert store.header("old") is None and store.runs() == []
        again = store.claim("old", fingerprint="f-p", model="m", agent="a")
        assert again.created and store.entries("old") == []  # afresh, as deleted


def test_a_delete_whose_journal_cannot_be_removed_deletes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The row went, the failed unlink was passed over: a journal no row names was left, which
    # the store adopts back as the run (`adopt.py`), and the delete said it was done.
    path = tmp_path / "runs.db"
    stored(path, "old", {**START, "fingerprint": "f-p"}, {"n": 1})

    def refused(target: str) -> None:
        raise PermissionError(13, "Permission denied", target)

    with SQLiteStore(path) as store:
        monkeypatch.setattr(os, "unlink", refused)
        with pytest.raises(StoreError) as failed:
            store.delete("old")
        monkeypatch.undo()
        said = str(failed.value)
        assert said.startswith("cannot delete the run journal ") and "Permission denied" in said
        assert "the run was kept whole" in said
        assert [e.payload for e in store.entries("old")] == [{**START, "fingerprint": "f-p"},
                                                             {"n": 1}]
        assert store.delete("old") and store.header("old") is None


def test_a_new_run_given_a_deleted_run_s_key_while_its_journal_is_unlinked_keeps_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An older agentkit's delete commits, then unlinks the journal under its lock (this one's
    # unlinks first, in its transaction, which a claim waits for). A new run given the same
    # key meanwhile opens the old file; locked after the unlink, that file is nobody's: the
    # new run's journal would be written there and lost.
    path = tmp_path / "runs.db"
    stored(path, "old", START)
    at_unlink, opened, deleted = threading.Event(), threading.Event(), threading.Event()
    unlink, lock = os.unlink, log_module._lock  # pyright: ignore[reportPrivateUsage]

    def unlinking(target: str) -> None:
        at_unlink.set()
        assert opened.wait(30)
        unlink(target)

    def locking(fd: int) -> bool:
        if at_unlink.is_set() and not opened.is_set():  # the new run's try at the old file
            opened.set()
            assert deleted.wait(30)
        return lock(fd)

    monkeypatch.setattr(os, "unlink", unlinking)
    monkeypatch.setattr(log_module, "_lock", locking)
    deleter, failed = deleting(path, deleted)
    assert at_unlink.wait(30)  # the row is gone, its journal not yet
    with SQLiteStore(path) as store:
        fresh = store.claim("new", fingerprint="f-q", model="m", agent="a")
        deleter.join()
        assert fresh.created and not failed
        store.append(fresh.lease, "start", {"run_id": "new"})
        store.release(fresh.lease)
    with SQLiteStore(path) as store:
        assert [e.payload for e in store.entries("new")] == [{"run_id": "new"}]
        again = store.claim("new", fingerprint="f-q", model="m", agent="a")
        assert not again.created and again.run.entries == 1


def _no_pause(seconds: float) -> None:
    raise AssertionError("the claim waited on a journal a writer holds")


def test_a_new_run_whose_key_s_journal_a_writer_holds_is_refused_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A store file put back from a copy made before run "x" started, while x runs on: the
    # next new run is given x's key, whose journal x's process holds. The claim waited a
    # second (holding the store's write lock) for a delete to finish that no one was making.
    path = tmp_path / "runs.db"
    with SQLiteStore(path) as holder:
        lease = holder.claim("x", fingerprint="f-p", model="m", agent="a").lease
        holder.append(lease, "start", {"run_id": "x"})
        with closing(sqlite3.connect(path)) as db, db:
            db.execute("DELETE FROM runs WHERE run_id = 'x'")
        monkeypatch.setattr(log_module, "_pause", _no_pause)
        with SQLiteStore(path) as store, pytest.raises(StoreError) as refused:
            store.claim("y", fingerprint="f-p", model="m", agent="a")
        assert "cannot start run 'y': its journal " in str(refused.value)
        assert "held by another process" in str(refused.value)
        assert "process 0" not in str(refused.value)
        monkeypatch.undo()
        with SQLiteStore(path) as store:
            assert store.header("y") is None  # nothing was stored of it
        (journal,) = (tmp_path / "runs.db.journals").iterdir()
        assert [e.payload for e in read(str(journal)).entries] == [{"run_id": "x"}]


def test_a_new_run_given_a_deleted_run_s_key_waits_for_the_delete_holding_its_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Between its commit and its unlink, an older agentkit's delete (`row_first`) still holds
    # the old journal's lock: a new run given the key then waits for it, and is not told
    # another process holds the run.
    path = tmp_path / "runs.db"
    stored(path, "old", START)
    at_unlink, waited, deleted = threading.Event(), threading.Event(), threading.Event()
    unlink = os.unlink

    def unlinking(target: str) -> None:
        at_unlink.set()
        assert waited.wait(30)
        unlink(target)

    def pause(seconds: float) -> None:  # the claim waits: let the delete finish
        waited.set()
        assert deleted.wait(30)

    monkeypatch.setattr(os, "unlink", unlinking)
    monkeypatch.setattr(log_module, "_pause", pause)
    deleter, failed = deleting(path, deleted)
    assert at_unlink.wait(30)  # the row is gone; its journal, still locked, not yet
    try:
        with SQLiteStore(path) as store:
            fresh = store.claim("new", fingerprint="f-q", model="m", agent="a")
            store.append(fresh.lease, "start", {"run_id": "new"})
            store.release(fresh.lease)
    finally:
        waited.set()
        deleter.join()
    assert fresh.created and waited.is_set() and not failed
    with SQLiteStore(path) as store:
        assert [e.payload for e in store.entries("new")] == [{"run_id": "new"}]



SUB = sub_run_id("r1", "toolu_p1")  # "r1›toolu_p1": the sub-run of run r1's call toolu_p1


def caller_and_sub_run(path: Path, status: RunStatus) -> None:
    """Store run r1, ended `status` ("running": left unreleased, as a killed process leaves
    it), and the finished sub-run of one of its calls."""
    with SQLiteStore(path) as store:
        for run_id, ended in ((SUB, "finished"), ("r1", status)):
            lease = store.claim(run_id, fingerprint="f-p", model="m", agent="a").lease
            store.append(lease, "start", {"run_id": run_id})
            if ended != "running":
                store.append(lease, "status", {"status": ended}, summary=Summary(status=ended))
                store.release(lease)


@pytest.mark.parametrize("status", ["running", "paused", "failed", "interrupted"])
def test_a_sub_run_of_an_unfinished_run_is_not_deleted_alone(
    tmp_path: Path, status: RunStatus
) -> None:
    # Deleting the sub-run alone went through: resuming its caller ran the agent's call again,
    # which found no sub-run and started the sub-agent over, its tools (a charge) run twice.
    path = tmp_path / "runs.db"
    caller_and_sub_run(path, status)
    with SQLiteStore(path) as store:
        with pytest.raises(UsageError) as refused:
            store.delete(SUB)
        said = str(refused.value)
        assert f"cannot delete sub-run {SUB!r} alone: its run 'r1' is " in said
        assert ("Nothing was deleted. Delete run 'r1' instead, which deletes its sub-runs with "
                "it, or resume it until it finishes and delete the sub-run then") in said
        assert [e.kind for e in store.entries(SUB)] == ["start", "status"]  # all kept
        assert store.delete("r1") and store.runs() == []  # the run, its sub-runs with it


@pytest.mark.parametrize("caller", ["finished", "gone"])
def test_a_sub_run_of_a_finished_run_or_of_none_is_deleted_alone(
    tmp_path: Path, caller: str
) -> None:
    # Nothing runs the call that made it again: a finished run's calls are all answered.
    path = tmp_path / "runs.db"
    caller_and_sub_run(path, "finished")
    with SQLiteStore(path) as store:
        if caller == "gone":  # a delete killed between the run and its sub-runs
            assert store._delete("r1")  # pyright: ignore[reportPrivateUsage]
        assert store.delete(SUB) and store.header(SUB) is None
        assert not store.delete(SUB)  # nothing left to delete: nothing to refuse
        assert [r.run_id for r in store.runs()] == ([] if caller == "gone" else ["r1"])
