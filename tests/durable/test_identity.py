"""Which run a journal is: a reader (`SQLiteStore.entries`) never gives another run's journal
as this one's, whether the store's file was paired with another store's journals or the run's
key was given to another run while it was read."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from agentkit._durable import sqlite as sqlite_module
from agentkit._durable.journal import Entry
from agentkit._durable.records import Tail
from agentkit._durable.sqlite import SQLiteStore
from agentkit.errors import StoreError


def start(run_id: str | None, fingerprint: str, prompt: str) -> dict[str, Any]:
    named = {} if run_id is None else {"run_id": run_id, "fingerprint": fingerprint}
    return {"messages": [{"role": "user", "content": prompt}], "seed": 1, **named}


def stored(path: Path, run_id: str, fingerprint: str, payload: dict[str, Any]) -> None:
    """Store run `run_id` whose journal starts with `payload`, and a reply."""
    with SQLiteStore(path) as store:
        lease = store.claim(run_id, fingerprint=fingerprint, model="m", agent="a").lease
        store.append_many(lease, [("start", payload), ("reply", {"prompt": payload})])
        store.release(lease)


@pytest.mark.parametrize(
    ("other_id", "other_print", "refused"),
    [
        ("refunds", "a1-p2", "it is run 'refunds'.s"),
        ("orders", "a1-p2", "it is run 'orders'.s \\(fingerprint a1-p2\\)"),
    ],
    ids=["another-run-id", "same-id-another-prompt"],
)
def test_entries_of_a_store_paired_with_another_store_s_journals_say_so_instead(
    tmp_path: Path, other_id: str, other_print: str, refused: str
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    stored(a / "runs.db", "orders", "a1-p1", start("orders", "a1-p1", "Charge 1"))
    stored(b / "runs.db", other_id, other_print, start(other_id, other_print, "Refund 1"))
    shutil.rmtree(a / "runs.db.journals")
    shutil.copytree(b / "runs.db.journals", a / "runs.db.journals")
    (journal,) = (a / "runs.db.journals").iterdir()
    with (
        SQLiteStore(a / "runs.db") as store,
        pytest.raises(
            StoreError,
            match=(
                rf"the journal {journal} is not run 'orders'.s: {refused}.*this store has run "
                r"'orders' with fingerprint a1-p1.*do not belong together.*Put back the "
                r"journals folder saved with this store file, then read the run again"
            ),
        ),
    ):
        store.entries("orders", after=1)


@pytest.mark.parametrize(
    "payload",
    [start(None, "", "Charge 1"), start("orders", "a0-p1", "Charge 1")],
    ids=["journal-naming-no-run", "older-agent-half"],
)
def test_entries_of_a_journal_naming_no_run_or_the_same_prompt_are_read(
    tmp_path: Path, payload: dict[str, Any]
) -> None:
    # A journal written before journals named their run has nothing to check it by; one whose
    # start names the run's prompt under another agent half is the run's own (its header moved
    # on to the agent's new fingerprint: `test_legacy_fingerprint.py`).
    stored(tmp_path / "runs.db", "orders", "a1-p1", payload)
    with SQLiteStore(tmp_path / "runs.db") as store:
        assert [e.payload for e in store.entries("orders")] == [payload, {"prompt": payload}]
        assert [e.seq for e in store.entries("orders", after=1)] == [2]


@pytest.mark.parametrize("again", [False, True], ids=["deleted", "deleted-and-started-again"])
def test_a_run_whose_key_is_given_to_another_while_it_is_read_is_not_read_as_that_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, again: bool
) -> None:
    path = tmp_path / "runs.db"
    stored(path, "orders", "a1-p1", start("orders", "a1-p1", "Charge 1"))
    read = sqlite_module.read
    calls: list[str] = []

    def reading(journal: str, **kwargs: Any) -> Tail:
        if not calls:  # between the row's read and its journal's: deleted, its key reused
            with SQLiteStore(path) as other:
                assert other.delete("orders")
                stored(path, "refunds", "a2-p2", start("refunds", "a2-p2", "Refund 1"))
                if again:
                    other.delete("refunds")
                    stored(path, "orders", "a1-p3", start("orders", "a1-p3", "Charge 3"))
        calls.append(journal)
        return read(journal, **kwargs)

    monkeypatch.setattr(sqlite_module, "read", reading)
    with SQLiteStore(path) as store:
        found: list[Entry] = store.entries("orders")
    assert len(set(calls)) == 1  # the same key, another run's journal
    if again:
        assert found[0].payload == start("orders", "a1-p3", "Charge 3")
    else:
        assert found == []
