"""Runs whose journal no row of the store file names: a store file put back from a copy older
than them (a backup restored after a disk failure or a bad deploy). Their journals, beside it,
hold everything; each is still its run, and must never be started afresh (its side effects,
a card charged, would happen again).

A journal holding anything whose `start` names its run (`run_id`, `fingerprint`) is that run:
its row is rebuilt from it (`Lost`): the key its file is named by, the fingerprint its start
gives (a claim with another prompt is a `RunMismatchError`, as ever), its status and totals as
its records set them, when it started and was last written, the model its last reply names
(the agent's name is not journaled: "" until a claim names it). `SQLiteStore` inserts these
rows (`adopt`) once per store object, before its first use, so a claim resumes such a run, or
returns its stored result, exactly as if its row had never been lost; the viewer, which only
reads, shows them as rows of its own (`cli/viewer/reader.py`).

Left as they are (and named by `agentkit runs list`): a journal whose start names no run (an
agentkit before starts named theirs), one that cannot be read or holds a line this agentkit
does not read (a newer agentkit's entry, or damage: a claim would cut it off), and one whose
run a row names under another key; of several journals naming one run, the newest (the
highest key) is it.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass

from agentkit._durable.folder import unnamed
from agentkit._durable.journal import Summary
from agentkit._durable.records import read
from agentkit._durable.rows import Totals
from agentkit._durable.schema import FORMAT, connect
from agentkit._errors import StoreError

__all__ = ["COLUMNS", "Lost", "adopt", "adopt_once", "insert", "lost", "rebuild"]

COLUMNS = (
    "id, run_id, format, fingerprint, model, agent, status, turns, input_tokens, "
    "output_tokens, cost_usd, created, updated, log_seq, log_size"
)
"""The columns of a row rebuilt from its journal (`Lost.row`); the lease ones are empty."""


@dataclass(frozen=True, slots=True)
class Lost:
    """A run found by its journal alone: what its row holds."""

    key: int
    run_id: str
    fingerprint: str
    model: str
    created: float
    totals: Totals
    size: int
    """Bytes of whole records in its journal (the row's `log_size`)."""

    def row(self) -> tuple[object, ...]:
        """The values of `COLUMNS`."""
        t = self.totals
        return (self.key, self.run_id, FORMAT, self.fingerprint, self.model, "", t.status,
                t.turns, t.input_tokens, t.output_tokens, t.cost_usd, self.created, t.updated,
                t.seq, self.size)


def lost(folder: str, db: sqlite3.Connection) -> list[Lost]:
    """The runs of the journals in `folder` that no row of `db`'s store names (see the module
    docstring), by key. Reads the rows' keys and the folder (`folder.unnamed`), and each
    journal found there whole."""
    found: dict[str, Lost] = {}
    paths = unnamed(folder, lambda: [key for (key,) in db.execute("SELECT id FROM main.runs")])
    for path in reversed(paths):  # the newest first
        run = _run_of(path)
        if run is None or run.run_id in found or db.execute(
            "SELECT 1 FROM main.runs WHERE run_id = ?", (run.run_id,)
        ).fetchone():
            continue
        found[run.run_id] = run
    return sorted(found.values(), key=lambda run: run.key)


def adopt_once(
    use: Callable[[bool], AbstractContextManager[sqlite3.Connection]], folder: str
) -> None:
    """A store's adoption of the runs `lost` finds, through `use(write)` (its connection,
    inside a write transaction with `write`): made once per store object, at its first use,
    and why once is enough: meanwhile no journal holding anything loses its row (a delete
    unlinks the journal before its row goes, a new run's row commits with its journal), and a
    store file put back under an open store is refused (`Journals.take`: a new file at its
    path; one copied over in place is no consistent database for a connection open on it, its
    WAL being the older file's, so a store file is restored with no process using it), so
    only a store opened after it meets them. Costs a look at the rows' keys and the folder; a
    write only when there are such runs. No journal's lock is taken: a claim takes it, or
    finds it held (`RunLockedError`), as for any run."""
    with use(False) as db:
        if not lost(folder, db):
            return
    with use(True) as db:
        adopt(db, folder)


def adopt(db: sqlite3.Connection, folder: str) -> list[str]:
    """Insert in `db`'s open write transaction the rows of the runs `lost` finds; their ids."""
    runs = lost(folder, db)
    insert(db, "runs", runs)
    return [run.run_id for run in runs]


def insert(db: sqlite3.Connection, table: str, runs: Iterable[Lost]) -> None:
    """Insert the rows of `runs` (`Lost.row`) into `table` (the store's, or the viewer's
    `temp.lost`)."""
    marks = ", ".join("?" * len(COLUMNS.split(",")))
    db.executemany(f"INSERT INTO {table} ({COLUMNS}) VALUES ({marks})", [r.row() for r in runs])


def rebuild(path: str, folder: str) -> None:
    """Make a new, empty store file at `path` beside the journals `folder` holds (the file that
    named them was deleted and has no backup), which `connect` otherwise refuses: the store's
    first use then adopts every run they are (`adopt_once`). The caller checks that there is
    no store file at `path`, and journals in `folder`."""
    connect(path, synchronous="FULL", timeout=5.0, folder=folder, rebuild=True).close()


def _run_of(path: str) -> Lost | None:
    """The run the journal at `path` is, if its start names one."""
    try:
        tail = read(path)
    except StoreError:
        return None
    start = tail.entries[0] if tail.entries else None
    if start is None or start.kind != "start" or not _whole(path, tail.end):
        return None
    run_id, fingerprint = start.payload.get("run_id"), start.payload.get("fingerprint")
    if not (isinstance(run_id, str) and isinstance(fingerprint, str)):
        return None
    s = tail.summary or Summary()
    totals = Totals(
        s.status or "running", s.turns or 0, s.input_tokens or 0, s.output_tokens or 0,
        s.cost_usd or 0.0, tail.at or start.at, tail.last_seq,
    )
    key = int(os.path.basename(path).removesuffix(".log"))
    return Lost(key, run_id, fingerprint, _model(e.payload for e in reversed(tail.entries)
                                                 if e.kind == "reply"), start.at, totals, tail.end)


def _whole(path: str, end: int) -> bool:
    """Whether the journal at `path` holds nothing past its whole records (byte `end`) but a
    record a crash cut short: not a whole line this agentkit does not read (a newer agentkit's
    entry, or damage), which a claim would cut off, and the run repeat what it recorded."""
    try:
        with open(path, "rb") as journal:
            journal.seek(end)
            return b"\n" not in journal.read()
    except OSError:
        return False


def _model(replies: Iterable[dict[str, object]]) -> str:
    """The model the first of `replies` names ("" for none)."""
    for reply in replies:
        model = reply.get("model")
        return model if isinstance(model, str) else ""
    return ""
