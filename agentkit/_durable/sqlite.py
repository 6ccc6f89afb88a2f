"""`SQLiteStore`: the embedded run store, one SQLite file and a folder of journals, no server.

The store file `runs.db` holds the runs' headers (status, totals, lease); each run's journal is
an append-only file in `runs.db.journals/` (`log.py` says why and how), so a checkpoint is one
`write()`. Durability is the `synchronous` level you pick:

- `"NORMAL"` (the default): a checkpoint is handed to the kernel before the run goes on, and
  not fsynced. Everything committed survives a process crash (SIGKILL, an OOM kill, a deploy),
  which is what the guarantees of a durable run are about. A power loss or OS crash may lose
  the last checkpoints (the journal stays whole up to its last whole record): the run then
  resumes from an earlier entry and repeats what followed, a model call, an idempotent tool,
  and a non-idempotent tool whose "started" mark was lost; unless the header had counted the
  lost entries: then the claim refuses the journal (`journal.expect_run`).
- `"FULL"`: every checkpoint is also on the disk (`fdatasync`) before what depends on it goes
  on, so nothing committed is lost, not even to a power loss: no non-idempotent tool runs
  twice, no model call is repeated beyond the one in flight. A driver's commit is written at
  once and synced by the store's syncer threads (`syncer.py`, `append_many(then=...)`), with
  other runs' syncs, while the run awaits the news (`_run/durability.py`): its event loop never
  waits for the disk. (A plain `append` returns once synced; SQLite's commits of a claim, a
  release or a renewal are made off the driver's loop.)

Why NORMAL by default (`benchmarks/durable.py`, `group_commit.py`, a 2-vCPU VM): at FULL a
turn's two fsyncs cost ~0.5 ms of CPU (theirs and their threads') and each ~2.5 ms of waiting
(other runs go on) against ~50 µs for NORMAL's checkpoints; 400 runs on one loop: 2.6-2.8 s
against 1.1-1.7 s. SQLite's own `synchronous=NORMAL` makes the same trade.

The lease is a lock: the holder keeps `flock` on its run's journal while it runs it, so no other
process can append, and the kernel frees it the moment the holder dies (a restart resumes at
once). A live holder keeps its runs: stop it to take them over. The header's lease columns say
who holds a run and are renewed while it runs (`renew`, which also brings the totals up to
date) and on release. A store is synchronous and thread-safe; several processes may share it
(SQLite serialises their header writes, `timeout` is how long one waits). Local file systems
only (WAL and `flock` need them).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from typing import Literal, cast

from agentkit._durable.adopt import adopt_once
from agentkit._durable.folder import Journals
from agentkit._durable.journal import (
    Claim,
    Entry,
    EntryKind,
    Holder,
    Lease,
    Payload,
    RunHeader,
    RunStatus,
    Summary,
    check_named,
    check_run_id,
    expect_run,
)
from agentkit._durable.lease import this_process
from agentkit._durable.log import RunLog, deleting
from agentkit._durable.records import read
from agentkit._durable.rows import HEADER, SYNC_SET, locked, not_held, storable, synced, to_header
from agentkit._durable.schema import FORMAT, Use, connect, journals, newer_format
from agentkit._durable.subruns import IN_RANGE, TOP_LEVEL, below, check_deletable
from agentkit._durable.syncer import Syncer, Waiter
from agentkit._errors import RunMismatchError, StoreError, UsageError

__all__ = ["SQLiteStore"]

class _Held:
    """A run this store claimed: its key, its journal (open and locked), and when an append
    next renews the lease."""

    __slots__ = ("key", "log", "renew_at")

    def __init__(self, key: int, log: RunLog, renew_at: float) -> None:
        self.key = key
        self.log = log
        self.renew_at = renew_at


class SQLiteStore:
    """Durable runs in the SQLite file `path` (created if new) and the journals beside it
    (`<path>.journals/`, beside the file a symlink names), implementing `RunStore`.

    `synchronous` is `"NORMAL"` (every checkpoint survives a process crash) or `"FULL"` (every
    checkpoint also survives a power loss); see the module docstring. The header shows a
    holder's lease lasting `lease_seconds` from its claim or last renewal (appends renew it
    once a third is spent); the journal's lock is what holds the run. `clock` gives Unix
    seconds (tests inject one). Raises `StoreFormatError` when `path` is not a store this
    agentkit can use (the file untouched), `StoreError` when its journals are beside a
    symlink to it (`schema.journals`) or without it (`schema.connect`)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Literal["FULL", "NORMAL"] = "NORMAL",
        lease_seconds: float = 60.0,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if synchronous not in ("FULL", "NORMAL"):
            raise UsageError(f"SQLiteStore(synchronous={synchronous!r}): use 'FULL' or 'NORMAL'")
        if not os.fspath(path):
            raise UsageError("SQLiteStore(''): give the path of the store file, e.g. 'runs.db'")
        if not lease_seconds > 0:
            raise UsageError(f"SQLiteStore(lease_seconds={lease_seconds!r}): must be positive")
        self.path = os.fspath(path)
        self.synchronous = synchronous
        self.fsyncs = synchronous == "FULL"
        """Whether an append waits for the disk (`RunStore.fsyncs`)."""
        self.lease_seconds = lease_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._logs = threading.Lock()
        """Held to write, take or close a journal: a header's transaction holds none up."""
        self._held: dict[str, _Held] = {}
        """Per lease token this store claimed and still holds."""
        self._memory = tempfile.TemporaryDirectory() if self.path == ":memory:" else None
        folder = self._memory.name if self._memory else journals(self.path)
        self._files = Journals(folder, self.path)
        """The journals' folder, a journal a run."""
        self._db: sqlite3.Connection | None = connect(
            self.path, synchronous=synchronous, timeout=timeout, folder=self._files.folder
        )
        self._files.opened()  # a claim checks that the path still names this file
        self._syncer: Syncer | None = None  # the journals' group commit, once FULL needs it
        self._adopted = self._memory is not None  # the runs of lost rows, at the first use

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r}, synchronous={self.synchronous!r})"

    def _open(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError(
                f"the run store {self.path} is closed (its `close()` ran, or its `with` block "
                "ended); open it again (`SQLiteStore(path)`) and make the call again: a run "
                "resumes where it stopped"
            )
        return self._db

    def _use(self, *, write: bool) -> Use:
        """The connection, under the lock; with `write`, inside one immediate transaction that
        commits when the block ends and rolls back when it raises. The first use adopts the
        runs whose rows were lost (`adopt.adopt_once`)."""
        if not self._adopted:
            adopt_once(partial(Use, self._lock, self._open, self.path), self._files.folder)
            self._adopted = True
        return Use(self._lock, self._open, self.path, write)

    def claim(
        self, run_id: str, *, fingerprint: str, model: str, agent: str, former: str | None = None
    ) -> Claim:
        """Create the run if it is new, or load it; either way take its lease. A run stored
        with `former` (what an older agentkit fingerprinted the same agent and prompt as:
        `_run.fingerprint.former`) is claimed, and its header moved on to `fingerprint` in the
        claim's transaction, so that is done once.

        Raises `RunLockedError` when another live process holds the run, `RunMismatchError`
        when the run is stored with another fingerprint, `StoreFormatError` when it was written
        by a newer agentkit, `StoreError` when its journal is another run's (`expect_run`).
        When it raises, nothing was written.
        """
        check_run_id(run_id)
        now, me, token = self._clock(), this_process(), secrets.token_hex(16)
        expires = now + self.lease_seconds
        lease = (token, me.host, me.node, me.pid, me.started, expires)
        log: RunLog | None = None
        try:
            # One transaction: a new run's row is seen by others only with its journal locked
            # (else another claimer could take the run in between), and no journal stays
            # locked for a claim that did not commit (a full disk).
            with self._use(write=True) as db:
                inserted = db.execute(
                    "INSERT OR IGNORE INTO runs (run_id, format, fingerprint, model, agent, "
                    "status, created, updated, lease_token, lease_host, lease_node, lease_pid, "
                    "lease_started, lease_expires) "
                    "VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?)",
                    (run_id, FORMAT, fingerprint, model, agent, now, now, *lease),
                )
                created = inserted.rowcount == 1
                if created:
                    key, log = self._files.take_new(run_id, cast(int, inserted.lastrowid), db)
                    header = RunHeader(
                        run_id, fingerprint, model, agent, "running", 0, 0, 0, 0.0, now, now,
                        0, Holder(host=me.host, pid=me.pid, expires=expires),
                    )
                else:
                    prints = (fingerprint, former)
                    key, log, header = self._load(db, run_id, prints, lease, now, agent)
        except BaseException:
            if log is not None:
                log.close()
            raise
        held = _Held(key, log, now + self.lease_seconds / 3)
        with self._logs:
            if self._db is None:  # closed by another thread meanwhile: keep nothing locked
                log.close()
                self._open()
            self._held[token] = held
        return Claim(run=header, lease=Lease(run_id, token, expires), created=created)

    def _load(
        self, db: sqlite3.Connection, run_id: str, prints: tuple[str, str | None],
        lease: tuple[object, ...], now: float, agent: str,
    ) -> tuple[int, RunLog, RunHeader]:
        """Claim the stored run `run_id` in `db`'s transaction: its key, its journal (locked),
        and its header as it was, but for its fingerprint: `prints[0]`, which the row is given
        when it holds `prints[1]` (the former one). A row rebuilt from its journal (`adopt.py`)
        is given `agent`'s name, which journals do not keep."""
        row = db.execute(
            "SELECT id, format, fingerprint, lease_host, lease_pid, lease_expires, log_seq "
            "FROM runs WHERE run_id = ?",
            (run_id,),
        ).fetchone()
        key, version, stored, *_, synced = row
        fingerprint, former = prints
        if version > FORMAT:
            raise newer_format(self.path, version, f"run {run_id!r}")
        if stored != fingerprint and (former is None or stored != former):
            raise RunMismatchError(run_id, stored=stored, given=fingerprint)
        check = expect_run(run_id, stored, synced, self._files.where(key), former=former)
        log = self._files.take(run_id, key, row, fresh=False, existing=synced > 0, check=check)
        try:
            header = self._header(db, run_id)
            assert header is not None  # the row was read in this transaction
            db.execute(  # running now; `release` sets the status its journal ends with
                "UPDATE runs SET lease_token = ?, lease_host = ?, lease_node = ?, "
                "lease_pid = ?, lease_started = ?, lease_expires = ?, updated = ?, "
                "status = 'running', fingerprint = ?, agent = coalesce(nullif(agent, ''), ?) "
                "WHERE id = ?",
                (*lease, now, fingerprint, agent, key),
            )
        except BaseException:
            log.close()
            raise
        if stored != fingerprint:
            header = replace(header, fingerprint=fingerprint)
        return key, log, header

    def append(
        self,
        lease: Lease,
        kind: EntryKind,
        payload: Payload,
        *,
        summary: Summary | None = None,
    ) -> int:
        """Commit one entry (and `summary`, with it) and return the entry's `seq`.

        Raises `RunLockedError` when another process holds the run, `RunNotFoundError` when
        the run was deleted, `StoreError` when the lease was released, and `TypeError` when
        the payload is not JSON; nothing is written then.
        """
        return self.append_many(lease, ((kind, payload),), summary=summary)

    def append_many(
        self,
        lease: Lease,
        entries: Sequence[tuple[EntryKind, Payload]],
        *,
        summary: Summary | None = None,
        then: Waiter | None = None,
    ) -> int:
        """Commit `entries` in order in one write (all or none, with `summary`), fsynced at
        `synchronous="FULL"`; return the last one's `seq`. Raises as `append`. (Every
        checkpoint's path: the entries' kinds are checked as they are encoded.) With `then`,
        the fsync is left to the syncer (`syncer.py`), which calls `then(None)` once the disk
        has the journal or `then(error)` with the `StoreError` saying why not (called here at
        NORMAL, and at FULL while the disk answers faster than a thread hop, `FAST`)."""
        held = self._held.get(lease.token)
        if held is None or not entries:
            raise self._refused(lease, entries)
        now = self._clock()
        fsyncs = self.fsyncs
        synced = not fsyncs
        with self._logs:
            if self._db is None:
                self._open()  # raises: the store is closed
            if then is None or not fsyncs:
                seq = held.log.append(entries, now, summary, sync=fsyncs)
            else:
                self._syncer = syncer = self._syncer or Syncer()
                seq, synced = syncer.append(held.log, entries, now, summary, then)
        if then is not None and synced:
            then(None)
        if now >= held.renew_at:  # a third of the lease spent: renew it, and sync the header
            held.renew_at = now + self.lease_seconds / 3  # and again then, should this fail
            if then is None:
                self._renew_quietly(lease)
            else:  # its SQLite commit waits for the disk at FULL: not on the writer's thread
                threading.Thread(target=self._renew_quietly, args=(lease,), daemon=True).start()
        return seq

    def _renew_quietly(self, lease: Lease) -> None:
        """`renew`; a failure (a busy or full disk) is tried again later: the header is a view."""
        with contextlib.suppress(StoreError):
            self.renew(lease)

    def _refused(self, lease: Lease, entries: Sequence[tuple[EntryKind, Payload]]) -> Exception:
        """Why `append_many` writes nothing: no entries, or a lease this store does not hold."""
        if not entries:
            return UsageError("append_many(entries=[]): give at least one (kind, payload)")
        with self._use(write=False) as db:
            return self._not_held(db, lease)

    def renew(self, lease: Lease) -> Lease:
        """Extend the lease to `lease_seconds` from now, and bring the header's totals up to
        the journal; raises as `append` does."""
        now = self._clock()
        expires = now + self.lease_seconds
        with self._use(write=True) as db:
            held = self._held.get(lease.token)
            if held is None:
                raise self._not_held(db, lease)
            with self._logs:  # the journal as a whole append left it (one in another thread)
                values = synced(held.log, held.log.summary or Summary(), now)
            db.execute(
                f"UPDATE runs SET lease_expires = ?, {SYNC_SET} WHERE id = ?",
                (expires, *values, held.key),
            )
            held.renew_at = now + self.lease_seconds / 3
        return Lease(lease.run_id, lease.token, expires)

    def release(self, lease: Lease) -> bool:
        """Give the run up, so another process can claim it at once, with its header up to
        date. False (and nothing done) when this store does not hold it with this lease."""
        held = self._held.get(lease.token)
        if held is None:
            return False
        log, totals = held.log, held.log.summary or Summary()
        # The journal's lock first, then the header: a claimer who finds the journal locked
        # still reads this holder in the header (cleared first, the claimer's RunLockedError
        # would name nobody: "process 0"); one who takes the run meanwhile owns its header,
        # which this update, made for this lease only, leaves alone.
        with self._logs:  # not while `close` goes through them, nor closing a log twice
            self._held.pop(lease.token, None)  # gone already if the store was closed meanwhile
            log.close()
        with self._use(write=False) as db:
            db.execute(
                "UPDATE runs SET lease_token = NULL, lease_host = NULL, lease_node = NULL, "
                "lease_pid = NULL, lease_started = NULL, lease_expires = NULL, "
                f"{SYNC_SET} WHERE id = ? AND lease_token = ?",
                (*synced(log, totals, self._clock()), held.key, lease.token),
            )
        return True

    def _not_held(self, db: sqlite3.Connection, lease: Lease) -> StoreError:
        """Why this store cannot write with `lease`."""
        row = db.execute(
            "SELECT lease_token, lease_host, lease_pid, lease_expires FROM runs WHERE run_id = ?",
            (lease.run_id,),
        ).fetchone()
        return not_held(lease, row, self.path)

    def entries(self, run_id: str, *, after: int = 0) -> list[Entry]:
        """The run's entries with `seq > after`, in order (empty for an unknown run).

        Raises `StoreFormatError` when the run was written by a newer agentkit, `StoreError`
        when its journal cannot be read or is another run's (`journal.check_named`).
        """
        if not storable(run_id):
            return []
        retries = 2
        while True:
            row = self._row_of(run_id)
            if row is None:
                return []
            if row[1] > FORMAT:
                raise newer_format(self.path, row[1], f"run {run_id!r}")
            whole = read(self._files.path(row[0])).entries
            try:
                check_named(run_id, row[2], whole, self._files.where(row[0]))
            except StoreError:
                now = self._row_of(run_id)
                if now is None:
                    return []  # deleted meanwhile, its key given to another run
                if now == row or not retries:
                    raise
                retries -= 1  # deleted and started again meanwhile: read the new one
                continue
            return [e for e in whole if e.seq > after] if after else whole

    def _row_of(self, run_id: str) -> tuple[int, int, str] | None:
        """The key, format and fingerprint of run `run_id`'s row, or None."""
        with self._use(write=False) as db:
            return db.execute(
                "SELECT id, format, fingerprint FROM runs WHERE run_id = ?", (run_id,)
            ).fetchone()

    def header(self, run_id: str) -> RunHeader | None:
        """The run's header, or None if there is no such run."""
        if not storable(run_id):
            return None
        with self._use(write=False) as db:
            return self._header(db, run_id)

    def _header(self, db: sqlite3.Connection, run_id: str) -> RunHeader | None:
        row = db.execute(f"SELECT {HEADER} FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None else to_header(row, self._files.path)

    def runs(self, *, status: RunStatus | None = None, limit: int = 50, offset: int = 0,
             top_level: bool = False) -> list[RunHeader]:
        """Headers of the stored runs, most recently updated first, optionally one status,
        `limit` of them from `offset`; with `top_level`, not the sub-runs (`subruns.TOP_LEVEL`).
        Ordered and filtered by the headers as last brought up to date (each status change,
        every third of a lease); the totals are the journals' (`RunHeader.unreadable`: not)."""
        where = ("TRUE" if status is None else "status = ?") + (" AND " + TOP_LEVEL) * top_level
        with self._use(write=False) as db:
            rows = db.execute(
                f"SELECT {HEADER} FROM runs WHERE {where} "
                "ORDER BY updated DESC, run_id LIMIT ? OFFSET ?",
                (*(() if status is None else (status,)), limit, offset),
            ).fetchall()
        return [to_header(row, self._files.path) for row in rows]

    def sub_runs(self, run_id: str) -> list[str]:
        """The ids of run `run_id`'s sub-runs (`journal.sub_run_id`: its agents used as tools,
        and theirs), oldest first; empty for a run without any, or no run."""
        with self._use(write=False) as db:
            rows = db.execute(f"SELECT run_id FROM runs WHERE {IN_RANGE} ORDER BY created, "
                              "run_id", below(run_id) if storable(run_id) else ("", "")).fetchall()
        return [sub for (sub,) in rows]

    def delete(self, run_id: str) -> bool:
        """Delete a run and its journal, then its sub-runs (`journal.sub_run_id`: its agents as
        tools); False if there was none. Raises, nothing deleted, `RunLockedError` while a live
        process holds it, `UsageError` for a sub-run of an unfinished run (`check_deletable`).

        The journal goes first (unlinked under its lock), then the row, in one transaction:
        killed in between, the row is left without its journal, nothing of the run to resume
        (`agentkit runs rm` removes the row), never a journal no row names, which the store
        would adopt back as the run (`adopt.py`). No claim meets the journal meanwhile: a
        claim's transaction waits for the delete's, after which a new run given the key finds
        no file there and makes its own (`deleting`: an older agentkit's delete, row first)."""
        check_deletable(run_id, self.header)
        if not self._delete(run_id):
            return False
        for sub in self.sub_runs(run_id):  # their caller gone, nothing would resume them
            self._delete(sub)
        return True

    def _delete(self, run_id: str) -> bool:
        """Delete one run and its journal (see `delete`)."""
        if not storable(run_id):
            return False
        log: RunLog | None = None
        with deleting(self._files.folder):  # a claim finding the journal locked waits for it
            try:
                with self._use(write=True) as db:
                    row = db.execute(
                        "SELECT id, format, fingerprint, lease_host, lease_pid, lease_expires "
                        "FROM runs WHERE run_id = ?",
                        (run_id,),
                    ).fetchone()
                    if row is None:
                        return False
                    try:
                        log = RunLog.take(self._files.path(row[0]), existing=True)
                    except FileNotFoundError:  # its journal is gone already: the row goes too
                        pass
                    else:
                        if log is None:
                            raise locked(run_id, row)
                        log.unlink()  # first: see `delete`
                    db.execute("DELETE FROM runs WHERE id = ?", (row[0],))
            finally:
                if log is not None:
                    log.close()
        return True

    def close(self) -> None:
        """Close the file and give up the runs still held; the store cannot be used afterwards.
        Closing twice is harmless."""
        with self._lock, self._logs:
            for held in self._held.values():
                held.log.close()
            self._held.clear()
            if self._db is not None:
                self._db.close()
                self._db = None
            if self._syncer is not None:
                self._syncer.close()
        if self._memory is not None:
            self._memory.cleanup()

