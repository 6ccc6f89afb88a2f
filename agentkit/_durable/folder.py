"""`Journals`: a store's folder of run journals, one file a run, named by the run's key in the
store: where a run's journal is, making the folder, and taking a journal (`RunLog.take`) with
the errors a store gives when it cannot, among them a store file gone from its path since the
store opened it (deleted or replaced: the rows of the runs taken would go to a file no
longer there).

A journal no row names is never emptied. It is the journal of a run made after the store
file was copied, when that copy was put back (the rows of the runs made since are gone with
the newer file; their journals are not): the store adopts such runs, their rows rebuilt from
their journals (`adopt.py`), before it gives any new run a key. A new run whose key (SQLite's
next rowid) still names a file holding anything (one `adopt.py` leaves: its start names no
run) is given the key past every journal in the folder instead (`take_new`). Only that rare
case pays for a look at the folder; a new run's key is otherwise a new file (`O_EXCL`).
`unnamed` lists such journals, for the store to adopt and `agentkit runs list` to name.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from agentkit._durable.journal import Entry, runs_command
from agentkit._durable.log import RunLog
from agentkit._durable.rows import locked
from agentkit._errors import StoreError

__all__ = ["Journals", "keys", "unnamed"]

_TRIES = 100
"""Keys a new run tries past journals another store makes meanwhile (none should)."""


class Journals:
    """The journals' folder `folder` of the store file `store` (named in errors)."""

    __slots__ = ("_made", "_opened", "folder", "store")

    def __init__(self, folder: str, store: str) -> None:
        self.folder = folder
        self.store = store
        self._made = False
        """Whether the folder is known to exist."""
        self._opened: tuple[str, int, int] | None = None
        """The store file's absolute path, device and inode as the store opened it."""

    def opened(self) -> None:
        """Note the store file as it is now, the one the store opened: `take` checks that its
        path (made absolute now: the working directory may change) still names it. A store in
        memory has no file."""
        if self.store == ":memory:":
            return
        path = os.path.abspath(self.store)
        try:
            stat = os.stat(path)
        except FileNotFoundError:  # deleted already: left unchecked, as before
            return
        self._opened = (path, stat.st_dev, stat.st_ino)

    def path(self, key: int) -> str:
        """The journal of the run the store keys `key`."""
        return f"{self.folder}{os.sep}{key}.log"

    def where(self, key: int) -> tuple[str, str, str]:
        """The journal's path, the store's and the folder's: what an error about it names."""
        return self.path(key), self.store, self.folder

    def take(
        self,
        run_id: str,
        key: int,
        row: tuple[Any, ...] | None,
        *,
        fresh: bool,
        existing: bool = False,
        check: Callable[[Sequence[Entry], int], None] | None = None,
    ) -> RunLog:
        """Run `key`'s journal, locked for this store; `RunLockedError` when another holds it
        (named as `row`, the run's header row, does). With `existing` (its header counts
        entries), a missing journal is a `StoreError`: started again, the run would repeat
        what it did. `fresh` and `check`: as `RunLog.take`'s."""
        path = self.path(key)
        if (opened := self._opened) is not None:
            self._check_store(run_id, *opened)
        if not self._made:
            self._make()
        try:
            log = RunLog.take(path, fresh=fresh, existing=existing, check=check)
        except FileNotFoundError:
            if existing:
                raise StoreError(
                    f"the journal of run {run_id!r} is missing ({path}), though the store "
                    "counts its entries: it cannot be resumed, so nothing was run (a store is "
                    f"{self.store} and its folder {self.folder}: copy both). Put the file "
                    f"back, or delete the run (`{runs_command('rm', run_id, self.store)}`) "
                    "to start it afresh"
                ) from None
            self._make()  # it was removed
            log = RunLog.take(path, fresh=fresh)
        if log is None and row is None:  # a new run's: no run of this store holds it
            raise StoreError(
                f"cannot start run {run_id!r}: its journal {path} is held by another process, "
                "running a run this store file no longer names (the file was put back from a "
                f"copy, or its rows edited, while that run went on). Stop that process, or "
                f"give this store a file of its own; nothing was stored"
            )
        if log is None:
            raise locked(run_id, row)
        return log

    def take_new(self, run_id: str, key: int, db: sqlite3.Connection) -> tuple[int, RunLog]:
        """A new run's key and journal (locked), its row inserted as `key` in `db`'s open
        transaction. When a file at `key` holds anything (a journal no row names that is no
        run's: see the module docstring), it is left as it is and the row moved to the key
        past every journal in the folder and every row, whose file is new. Raises as `take`."""
        for _ in range(_TRIES):
            try:
                return key, self.take(run_id, key, None, fresh=True)
            except FileExistsError:
                pass
            past = max([db.execute("SELECT max(id) FROM runs").fetchone()[0], *keys(self.folder)])
            db.execute("UPDATE runs SET id = ? WHERE id = ?", (past + 1, key))
            key = past + 1
        raise StoreError(
            f"cannot start run {run_id!r}: every key tried names a journal in {self.folder} "
            "that another process keeps making; is a second store file using this folder? "
            "Give each store file a folder of its own (runs.db and runs.db.journals). Nothing "
            "was stored"
        )

    def _check_store(self, run_id: str, path: str, device: int, inode: int) -> None:
        """`StoreError` when the store file opened as `device`, `inode` is no longer at `path`
        (deleted or replaced)."""
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            stat = None
        if stat is not None and (stat.st_dev, stat.st_ino) == (device, inode):
            return
        raise StoreError(
            f"cannot run {run_id!r}: the run store file {self.store} was "
            f"{'deleted' if stat is None else 'replaced'} since this SQLiteStore opened it, so "
            "the run's row would go to a file no longer there (its journal to "
            f"{self.folder}); nothing was run. Put the file back (from a backup if it was "
            "deleted), then open the store again (SQLiteStore(path))"
        )

    def _make(self) -> None:
        """Make the folder if it is missing; `StoreError` when it cannot be made."""
        try:
            os.makedirs(self.folder, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot make the folder of the run journals {self.folder} ({exc}): the "
                "store keeps a journal per run there, so it must be a folder this process can "
                "write to (move what is in its place). Nothing was written"
            ) from exc
        self._made = True


def keys(folder: str) -> list[int]:
    """The keys of the journals in `folder` (`{key}.log`), in no order; none for no folder."""
    try:
        with os.scandir(folder) as found:
            names = [entry.name[:-4] for entry in found if entry.name.endswith(".log")]
    except OSError:
        return []
    return [int(name) for name in names if name.isascii() and name.isdigit() and len(name) < 19]


def unnamed(folder: str, named: Callable[[], Iterable[int]]) -> list[str]:
    """The journals in `folder` whose key is none of `named()` (the store's rows' keys), by
    key: runs made after the store file was copied, when that copy was put back (see the
    module docstring). An empty file holds no
    run and is left out: a claim makes its run's file before its row commits, and writes to
    it only after, so the rows are read again for the files found holding something (and a
    file unlinked meanwhile, a delete's, is left out too)."""
    rows = set(named())
    found = {key: f"{folder}{os.sep}{key}.log" for key in keys(folder) if key not in rows}
    held = [key for key in sorted(found) if _size(found[key])]
    rows = set(named()) if held else rows
    return [found[key] for key in held if key not in rows and os.path.exists(found[key])]


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
