"""`SQLiteStore`: the embedded run store, one SQLite file, no server.

Durability is WAL mode plus the `synchronous` level you pick:

- `"NORMAL"` (the default): a commit is written to the WAL but not fsynced. Committed entries
  survive a process crash (SIGKILL, OOM kill, a deploy); a power loss or OS crash may lose
  the last commits (the file stays consistent, and the run resumes from an earlier entry and
  repeats what followed: a model call, an idempotent tool). Except the entries that record
  something the outside world saw, which are fsynced (with everything before them) at every
  level: `tool_started` (a side effect is about to happen, so a non-idempotent tool never runs
  twice, not even after a power loss), `decisions` (a person answered) and `status` (a result
  was handed back).
- `"FULL"`: every commit is fsynced before `append` returns, so nothing committed is lost,
  not even to a power loss: no model call is repeated beyond the one in flight.

Why NORMAL by default (`benchmarks/store.py`, a 2-vCPU VM): an fsync costs ~120-150 µs of
CPU and ~2.5 ms of waiting here, so FULL makes a turn's two commits cost ~0.3-0.4 ms of CPU,
most of the rest of the turn (`benchmarks/bench.py`), against ~0.1 ms at NORMAL when the
turn's tools are idempotent; and NORMAL keeps the guarantee that matters, no side effect
repeated.

A store is synchronous and thread-safe: one connection behind a lock, so a driver can call it
from a worker thread; several processes may share a file (SQLite's locks serialise their
writes, `timeout` is how long one waits for another). Every write is one transaction (`BEGIN
IMMEDIATE`, or a lone INSERT) and checks the lease token inside it, so of two processes
racing for a run exactly one wins, and a process whose lease was taken over can no longer
append. WAL needs a local file system (not NFS or SMB).
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Literal, cast

import orjson

from agentkit._durable.journal import (
    KINDS,
    Claim,
    Entry,
    EntryKind,
    Holder,
    Lease,
    RunHeader,
    RunStatus,
    Summary,
)
from agentkit._durable.lease import Process, is_free, this_process
from agentkit._durable.schema import FORMAT, SEQ_BITS, connect, newer_format, translate
from agentkit._errors import (
    RunLockedError,
    RunMismatchError,
    RunNotFoundError,
    StoreError,
    UsageError,
)

__all__ = ["SQLiteStore"]

_SEQ = (1 << SEQ_BITS) - 1
# The last seq of run `runs.id`: a seek to the end of its key range, not a scan.
_LAST_SEQ = (
    f"coalesce((SELECT key & {_SEQ} FROM entries WHERE key BETWEEN runs.id << {SEQ_BITS} "
    f"AND runs.id << {SEQ_BITS} | {_SEQ} ORDER BY key DESC LIMIT 1), 0)"
)
_HEADER = (
    "run_id, fingerprint, model, agent, status, turns, input_tokens, output_tokens, cost_usd, "
    f"created, updated, {_LAST_SEQ}, lease_host, lease_pid, lease_expires"
)
_LEASE = "format, fingerprint, lease_node, lease_pid, lease_started, lease_expires, lease_host"
_UPDATE = """UPDATE runs SET
    updated = ?, lease_expires = ?,
    status = coalesce(?, status), turns = coalesce(?, turns),
    input_tokens = coalesce(?, input_tokens), output_tokens = coalesce(?, output_tokens),
    cost_usd = coalesce(?, cost_usd)
    WHERE id = ?"""
_NO_SUMMARY = Summary()
# An entry written only if `lease_token` still holds run `id`: the lease check and the write
# in one statement (rowcount 0: the lease is gone, or the run).
_INSERT_HELD = "INSERT INTO entries SELECT ?, ?, ?, ? FROM runs WHERE id = ? AND lease_token = ?"
# Entries that record what the outside world saw (a side effect about to happen, a person's
# answer, a result handed back): fsynced at every `synchronous` level, see the docstring.
_SEEN_OUTSIDE = frozenset({"tool_started", "decisions", "status"})


class SQLiteStore:
    """Durable runs in the SQLite file `path` (created if new), implementing `RunStore`.

    `synchronous` is `"NORMAL"` (survives a process crash; side-effect marks, decisions and
    statuses also survive a power loss) or `"FULL"` (everything survives a power loss); see
    the module docstring. A lease lasts `lease_seconds` from its claim or renewal; an append
    renews it once half of that is spent.
    `clock` gives Unix seconds (tests inject one). Raises `StoreFormatError` when `path` is
    not a store this agentkit can use, leaving the file untouched.
    """

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
        if not lease_seconds > 0:
            raise UsageError(f"SQLiteStore(lease_seconds={lease_seconds!r}): must be positive")
        self.path = os.fspath(path)
        self.synchronous = synchronous
        self.lease_seconds = lease_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._held: dict[str, tuple[int, int, float]] = {}
        """Per lease token this store claimed: the run's key, last seq and lease expiry, as of
        its last write here (only the holder appends, so they stay true while it holds)."""
        self._db: sqlite3.Connection | None = connect(
            self.path, synchronous=synchronous, timeout=timeout
        )

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r}, synchronous={self.synchronous!r})"

    def _open(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError(f"the run store {self.path} is closed")
        return self._db

    @contextmanager
    def _use(self, *, write: bool) -> Generator[sqlite3.Connection]:
        """The connection, under the lock; with `write`, inside one immediate transaction that
        commits when the block ends and rolls back when it raises."""
        with self._lock:
            db = self._open()
            try:
                if not write:
                    yield db
                    return
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                    db.execute("COMMIT")
                finally:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
            except sqlite3.Error as exc:
                raise translate(exc, self.path) from exc

    def claim(self, run_id: str, *, fingerprint: str, model: str, agent: str) -> Claim:
        """Create the run if it is new, or load it; either way take its lease.

        Raises `RunLockedError` when another live process holds the lease, `RunMismatchError`
        when the run is stored with another fingerprint, and `StoreFormatError` when it was
        written by a newer agentkit. When it raises, nothing was written.
        """
        now, me, token = self._clock(), this_process(), secrets.token_hex(16)
        expires = now + self.lease_seconds
        with self._use(write=True) as db:
            row = db.execute(f"SELECT {_LEASE} FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            created = row is None
            if row is None:
                db.execute(
                    "INSERT INTO runs (run_id, format, fingerprint, model, agent, status, "
                    "created, updated) VALUES (?, ?, ?, ?, ?, 'running', ?, ?)",
                    (run_id, FORMAT, fingerprint, model, agent, now, now),
                )
            else:
                version, stored = row[:2]
                if version > FORMAT:
                    raise newer_format(self.path, version, f"run {run_id!r}")
                if stored != fingerprint:
                    raise RunMismatchError(run_id, stored=stored, given=fingerprint)
                _refuse_if_held(run_id, row[2:], now=now, me=me)
            db.execute(
                "UPDATE runs SET lease_token = ?, lease_host = ?, lease_node = ?, lease_pid = ?, "
                "lease_started = ?, lease_expires = ?, updated = ? WHERE run_id = ?",
                (token, me.host, me.node, me.pid, me.started, expires, now, run_id),
            )
            header = self._header(db, run_id)
            key = db.execute("SELECT id FROM runs WHERE run_id = ?", (run_id,)).fetchone()[0]
            assert header is not None  # the row was read or written in this transaction
            self._held[token] = (key, header.entries, expires)
        return Claim(run=header, lease=Lease(run_id, token, expires), created=created)

    def append(
        self,
        lease: Lease,
        kind: EntryKind,
        payload: Mapping[str, object],
        *,
        summary: Summary | None = None,
    ) -> int:
        """Commit one entry (and `summary`, in the same transaction), keep the lease alive, and
        return the entry's `seq`.

        Raises `RunLockedError` when the lease was taken over, `RunNotFoundError` when the run
        was deleted, `StoreError` when the lease was released, and `TypeError` when the payload
        is not JSON; nothing is written then.
        """
        return self.append_many(lease, ((kind, payload),), summary=summary)

    def append_many(
        self,
        lease: Lease,
        entries: Sequence[tuple[EntryKind, Mapping[str, object]]],
        *,
        summary: Summary | None = None,
    ) -> int:
        """Commit `entries` in order in one transaction (all or none, with `summary`), fsynced
        when one of them is seen outside; return the last one's `seq`. Raises as `append`."""
        if not entries:
            raise UsageError("append_many(entries=[]): give at least one (kind, payload)")
        rows: list[tuple[str, str]] = []
        for kind, payload in entries:
            if kind not in KINDS:
                raise UsageError(f"append(kind={kind!r}): the kinds are {', '.join(KINDS)}")
            data = payload if isinstance(payload, dict) else dict(payload)
            rows.append((kind, orjson.dumps(data).decode()))
        fsync = any(kind in _SEEN_OUTSIDE for kind, _ in rows)
        now = self._clock()
        with self._lock:
            db = self._open()
            try:
                if fsync:
                    db.execute("PRAGMA synchronous = FULL")
                try:
                    return self._commit(db, lease, rows, now, summary, autocommit=not fsync)
                finally:
                    if fsync:
                        db.execute(f"PRAGMA synchronous = {self.synchronous}")
            except sqlite3.Error as exc:
                raise translate(exc, self.path) from exc

    def _commit(
        self,
        db: sqlite3.Connection,
        lease: Lease,
        rows: list[tuple[str, str]],
        now: float,
        summary: Summary | None,
        *,
        autocommit: bool,
    ) -> int:
        """Write `rows` for `lease`'s run. The fast path knows the run's key and last seq from
        this store's own claim (only the lease holder appends) and checks the lease in the
        first INSERT itself; without that knowledge, or when the INSERT finds the lease gone,
        the slow path reads the run's row and says why. With `autocommit`, one entry and no
        header change is one statement, its own transaction (a fsynced commit is an explicit
        one, between the `synchronous` pragmas)."""
        held = self._held.get(lease.token)
        if held is not None:
            run, seq, expires = held
            update = summary is not None or expires - now < self.lease_seconds / 2
            single = autocommit and len(rows) == 1 and not update
            if not single:
                db.execute("BEGIN IMMEDIATE")
            try:
                kind, text = rows[0]
                if db.execute(_INSERT_HELD, (run << SEQ_BITS | seq + 1, kind, now, text, run,
                                             lease.token)).rowcount == 1:
                    return self._finish(db, lease, run, seq + 1, expires, rows[1:], now,
                                        summary if update else None, update, single)
            except sqlite3.IntegrityError:
                pass  # another store object appended with this lease: read the row afresh
            finally:
                if db.in_transaction and not single:
                    db.execute("ROLLBACK")
            del self._held[lease.token]
        db.execute("BEGIN IMMEDIATE")
        try:
            run, expires, seq = self._holding(db, lease)
            kind, text = rows[0]
            db.execute("INSERT INTO entries VALUES (?, ?, ?, ?)",
                       (run << SEQ_BITS | seq + 1, kind, now, text))
            update = summary is not None or expires - now < self.lease_seconds / 2
            return self._finish(db, lease, run, seq + 1, expires, rows[1:], now, summary,
                                update, False)
        finally:
            if db.in_transaction:
                db.execute("ROLLBACK")

    def _finish(
        self,
        db: sqlite3.Connection,
        lease: Lease,
        run: int,
        seq: int,
        expires: float,
        rest: list[tuple[str, str]],
        now: float,
        summary: Summary | None,
        update: bool,
        single: bool,
    ) -> int:
        """The rest of an append after its first row: more rows, the header (when it changes
        or the lease is half spent: one page less to write for most entries), the commit."""
        for kind, text in rest:
            seq += 1
            db.execute("INSERT INTO entries VALUES (?, ?, ?, ?)",
                       (run << SEQ_BITS | seq, kind, now, text))
        if update:
            s = summary or _NO_SUMMARY
            expires = now + self.lease_seconds
            db.execute(
                _UPDATE,
                (now, expires, s.status, s.turns, s.input_tokens, s.output_tokens, s.cost_usd,
                 run),
            )
        if not single:
            db.execute("COMMIT")
        self._held[lease.token] = (run, seq, expires)
        return seq

    def renew(self, lease: Lease) -> Lease:
        """Extend the lease to `lease_seconds` from now; raises as `append` does."""
        now = self._clock()
        with self._use(write=True) as db:
            run = self._holding(db, lease)[0]
            db.execute(
                "UPDATE runs SET lease_expires = ?, updated = ? WHERE id = ?",
                (now + self.lease_seconds, now, run),
            )
            held = self._held.get(lease.token)
            if held is not None:
                self._held[lease.token] = (held[0], held[1], now + self.lease_seconds)
        return Lease(lease.run_id, lease.token, now + self.lease_seconds)

    def release(self, lease: Lease) -> bool:
        """Give the lease up, so another process can claim the run at once. False (and nothing
        done) when this lease no longer holds the run."""
        with self._use(write=True) as db:
            self._held.pop(lease.token, None)
            changed = db.execute(
                "UPDATE runs SET lease_token = NULL, lease_host = NULL, lease_node = NULL, "
                "lease_pid = NULL, lease_started = NULL, lease_expires = NULL "
                "WHERE run_id = ? AND lease_token = ?",
                (lease.run_id, lease.token),
            ).rowcount
        return changed == 1

    def _holding(self, db: sqlite3.Connection, lease: Lease) -> tuple[int, float, int]:
        """The run's key, lease expiry and last seq, if `lease` still holds the run; else
        raise why not."""
        row = db.execute(
            f"SELECT id, lease_token, lease_expires, lease_host, lease_pid, {_LAST_SEQ} "
            "FROM runs WHERE run_id = ?",
            (lease.run_id,),
        ).fetchone()
        if row is None:
            raise RunNotFoundError(lease.run_id, path=self.path)
        run, token, expires, host, pid, last = row
        if token == lease.token:
            return run, expires, last
        if token is None:
            raise StoreError(
                f"run {lease.run_id!r} is not claimed by this process (its lease was "
                "released); claim it again before writing"
            )
        raise RunLockedError(lease.run_id, host=host, pid=pid, expires=expires)

    def entries(self, run_id: str, *, after: int = 0) -> list[Entry]:
        """The run's entries with `seq > after`, in order (empty for an unknown run).

        Raises `StoreFormatError` when the run was written by a newer agentkit.
        """
        with self._use(write=False) as db:
            row = db.execute("SELECT id, format FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if row is None:
                return []
            if row[1] > FORMAT:
                raise newer_format(self.path, row[1], f"run {run_id!r}")
            rows = db.execute(
                f"SELECT key & {_SEQ}, kind, payload, at FROM entries "
                "WHERE key > ? AND key <= ? ORDER BY key",
                (row[0] << SEQ_BITS | after, row[0] << SEQ_BITS | _SEQ),
            ).fetchall()
        return [Entry(seq, kind, orjson.loads(payload), at) for seq, kind, payload, at in rows]

    def header(self, run_id: str) -> RunHeader | None:
        """The run's header, or None if there is no such run."""
        with self._use(write=False) as db:
            return self._header(db, run_id)

    def _header(self, db: sqlite3.Connection, run_id: str) -> RunHeader | None:
        row = db.execute(f"SELECT {_HEADER} FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None else _to_header(row)

    def runs(
        self, *, status: RunStatus | None = None, limit: int = 50, offset: int = 0
    ) -> list[RunHeader]:
        """Headers of the stored runs, most recently updated first, optionally one status,
        `limit` of them from `offset`."""
        where = "" if status is None else "WHERE status = ? "
        with self._use(write=False) as db:
            rows = db.execute(
                f"SELECT {_HEADER} FROM runs {where}ORDER BY updated DESC, run_id "
                "LIMIT ? OFFSET ?",
                (*(() if status is None else (status,)), limit, offset),
            ).fetchall()
        return [_to_header(row) for row in rows]

    def delete(self, run_id: str) -> bool:
        """Delete a run and its journal; False if there was none. Raises `RunLockedError`
        (nothing deleted) while another live process holds its lease."""
        now, me = self._clock(), this_process()
        with self._use(write=True) as db:
            row = db.execute(
                f"SELECT id, {_LEASE} FROM runs WHERE run_id = ?", (run_id,)
            ).fetchone()
            if row is None:
                return False
            _refuse_if_held(run_id, row[3:], now=now, me=me)
            run = row[0]
            db.execute(
                "DELETE FROM entries WHERE key BETWEEN ? AND ?",
                (run << SEQ_BITS, run << SEQ_BITS | _SEQ),
            )
            db.execute("DELETE FROM runs WHERE id = ?", (run,))
        return True

    def close(self) -> None:
        """Close the file; the store cannot be used afterwards. Closing twice is harmless."""
        with self._lock:
            self._held.clear()
            if self._db is not None:
                self._db.close()
                self._db = None


def _refuse_if_held(run_id: str, lease: tuple[Any, ...], *, now: float, me: Process) -> None:
    """Raise `RunLockedError` unless `me` may take the lease (node, pid, started, expires,
    host, as `_LEASE` selects them)."""
    node, pid, started, until, host = lease
    if not is_free(node=node, pid=pid, started=started, expires=until, now=now, me=me):
        raise RunLockedError(run_id, host=host, pid=pid, expires=until)


def _to_header(row: tuple[Any, ...]) -> RunHeader:
    (run_id, fingerprint, model, agent, status, turns, inputs, outputs, cost) = row[:9]
    created, updated, last_seq, host, pid, expires = row[9:]
    return RunHeader(
        run_id=run_id,
        fingerprint=fingerprint,
        model=model,
        agent=agent,
        status=cast(RunStatus, status),
        turns=turns,
        input_tokens=inputs,
        output_tokens=outputs,
        cost_usd=cost,
        created=created,
        updated=updated,
        entries=last_seq,
        holder=None if host is None else Holder(host=host, pid=pid, expires=expires),
    )
