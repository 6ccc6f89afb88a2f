"""One run's journal as an append-only file, and the lock that makes its writer the only one
(the records it holds: `records.py`).

Why a file and not rows: a checkpoint must reach the kernel before the run goes on, and that is
all a process crash needs. One `write()` of a record costs a few microseconds; a SQLite
transaction costs a dozen system calls and two b-tree page writes, which put checkpointing at
+40% CPU per model turn (`benchmarks/durable.py`). The run's header (status, totals, lease) stays
in SQLite, where listing and claiming need a transaction anyway.

The writer holds `flock(LOCK_EX)` on the file for as long as it holds the run: the kernel
releases it when the process dies, however it dies, so the restart of a killed process takes
the run at once, and no second writer can ever append while the first lives. (A child forked
without `exec` shares the lock while it lives; children started with `exec` do not.)
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import threading
import time
from collections.abc import Callable, Generator, Sequence

from agentkit._durable.journal import Entry, EntryKind, Summary
from agentkit._durable.records import MAGIC, WHAT_TO_DO, Tail, encode, encode_framed, merge, read
from agentkit._errors import StoreError

__all__ = ["RunLog", "deleting"]


_PROBE_WAIT = 0.0005
_PROBE_TRIES = 2000
"""How long a writer waits out readers' probes of a journal (`RunLog.held`): a second at most."""


def _lock(fd: int) -> bool:
    """Take the writer's lock on the journal `fd`; False when a writer holds it. A reader's
    probe (`RunLog.held`: a shared lock for a moment, `agentkit runs list`, `agentkit ui`) is
    waited out, not taken for a writer: a shared lock this process can also take says no
    writer holds the file (a writer's lock is exclusive)."""
    for _ in range(_PROBE_TRIES):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            pass
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # held exclusively: by a writer
        fcntl.flock(fd, fcntl.LOCK_UN)
        _pause(_PROBE_WAIT)
    return False


_pause = time.sleep


def _open(path: str, flags: int, fresh: bool) -> tuple[int, bool]:
    """The file at `path` opened with `flags`, and whether this call made it (only ever for
    `fresh`: a new run's journal is a new file, with nothing in it to cut off). Raises as
    `RunLog.take`."""
    try:
        if fresh:
            try:
                return os.open(path, flags | os.O_EXCL, 0o600), True
            except FileExistsError:
                pass
        return os.open(path, flags, 0o600), False
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise StoreError(
            f"cannot open the run journal {path}: {exc}{WHAT_TO_DO}. Nothing was written"
        ) from exc


def _at(fd: int, path: str) -> bool:
    """Whether the open file `fd` is still the one at `path` (not unlinked, nor replaced)."""
    held = os.fstat(fd)
    if not held.st_nlink:
        return False
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    return (named.st_ino, named.st_dev) == (held.st_ino, held.st_dev)


def _open_folder(folder: str) -> int:
    """The journals' folder `folder`, open for its lock; OSError if it cannot be."""
    return os.open(folder, os.O_RDONLY | os.O_CLOEXEC | os.O_DIRECTORY)


@contextlib.contextmanager
def deleting(folder: str) -> Generator[None]:
    """Held by a delete from before its run's row goes until the run's journal is unlinked and
    unlocked: the journals' `folder` locked shared, which tells a new run given the key
    meanwhile, finding its file locked, that a delete is finishing (to wait for), not a writer
    holding it (`_again`). (This agentkit's delete unlinks the journal before the row goes, in
    the transaction a new run's claim waits for; an older one's removed the row first, then
    unlinked the journal: what a new run can still meet.) Nothing when the folder cannot be
    locked (nor is there a journal)."""
    try:
        fd = _open_folder(folder)
    except OSError:
        yield
        return
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_SH)  # an exclusive holder (a claim) holds it a moment
        yield
    finally:
        os.close(fd)


def _again(fd: int, path: str) -> tuple[bool, bool] | None:
    """For a new run whose key's journal `fd` (at `path`) another process has locked: whether
    it is locked for this one now and still the file at `path`, asked with the folder locked
    exclusively, so no delete is finishing meanwhile (`deleting`): a lock still held is then a
    writer's. None while a delete may be finishing (or if this cannot be told): wait for it."""
    try:
        folder = _open_folder(os.path.dirname(path) or os.curdir)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(folder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # a delete holds it (or another claim, for a moment)
            return None
        return _lock(fd), _at(fd, path)
    finally:
        os.close(folder)


class RunLog:
    """The journal file of one run, open for appending by the process holding its lock."""

    __slots__ = ("_encode", "_fd", "_io", "failed", "path", "seq", "size", "summary")

    def __init__(self, path: str, fd: int, tail: Tail) -> None:
        self.path = path
        self._fd = fd
        self._encode = encode_framed if tail.framed else encode
        """A framed journal (a run resumed from formats 1-3) goes on in frames."""
        self.seq = tail.last_seq
        """The last record's seq."""
        self.size = tail.end
        """Bytes of whole records: where the next one goes."""
        self.summary = tail.summary
        """The summary columns the journal has set so far, merged."""
        self._io = threading.Lock()
        """Held by `sync` and `close`: a sync never reaches a closed fd (nor the file it is
        reused for)."""
        self.failed: StoreError | None = None
        """Why a `sync` failed: the journal then takes nothing more."""

    @classmethod
    def take(
        cls,
        path: str,
        *,
        fresh: bool = False,
        existing: bool = False,
        check: Callable[[Sequence[Entry], int], None] | None = None,
    ) -> RunLog | None:
        """Lock the file at `path` (created if new, unless `existing`) and open it for
        appending, cutting off a record left half written (a journal with no whole record
        starts over as a new one); None when another writer holds it. With `fresh` (a new
        run's), the file is new or empty: one holding anything is no row's journal, kept as it
        is (`FileExistsError`, for `Journals.take_new` to give the run another key). `check`
        is given the journal's whole entries and last seq, before anything is cut: what it
        raises is raised, with the file as it was and unlocked. Raises `FileNotFoundError`
        when the file (`existing`) or its folder is missing, `StoreError` when it cannot be
        opened otherwise.

        A file found unlinked or replaced once locked is opened again: a delete (an older
        agentkit's, `deleting`) unlinks its run's journal under its lock after the row is
        gone, and a new run given the key may have opened it meanwhile (written, it would be
        a journal nobody finds). A file this call made (O_EXCL) is the one at `path`,
        unchecked. A new run (`fresh`) that finds the file locked waits only while a delete
        is finishing in its folder (`deleting`); a lock held by a writer is None at once, as
        for any take."""
        flags = os.O_RDWR | os.O_CLOEXEC | (0 if existing else os.O_CREAT)
        for _ in range(_PROBE_TRIES):
            fd, created = _open(path, flags, fresh)
            deleted = False
            try:
                locked = _lock(fd)
                current = created or _at(fd, path)
                if fresh and current and not locked:  # a finishing delete's lock, or a writer's?
                    again = _again(fd, path)
                    deleted = again is None
                    locked, current = again or (locked, current)
            except BaseException:
                os.close(fd)
                raise
            if locked and current:
                break
            os.close(fd)
            if current and not deleted:
                return None  # another writer holds the run
            if current:  # a new run's key, its file still locked by the delete that freed it
                _pause(_PROBE_WAIT)
            # else: unlinked or replaced since it was opened: open what is at `path` now
        else:
            return None
        try:
            if fresh:  # a new run: a file holding anything is no row's run (`folder.py`)
                if not created and os.fstat(fd).st_size:
                    raise FileExistsError(errno.EEXIST, "a journal no run names is there", path)
                tail = Tail([], 0, 0, None, None)
            else:
                tail = read(path)
                if check is not None:
                    check(tail.entries, tail.last_seq)
                if not tail.end:  # no whole record (a crash in its first write): a new one
                    tail = Tail([], 0, 0, None, None)
                if os.fstat(fd).st_size != tail.end:
                    os.ftruncate(fd, tail.end)
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd, tail)

    @staticmethod
    def held(path: str) -> bool:
        """Whether a writer holds the file's lock now (False for a missing file, or one this
        process cannot open: then no writer could hold it through this store either). The probe
        holds a shared lock for a moment, which a claimer waits out (`_lock`)."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def append(
        self,
        rows: Sequence[tuple[EntryKind, object]],
        at: float,
        summary: Summary | None,
        *,
        sync: bool,
    ) -> int:
        """Write `rows` (kind, payload) as one record after the last, with `summary`, in one
        `write()` (`MAGIC` before a new journal's first); with `sync`, wait until the disk has
        them. Returns the last seq. Raises `UsageError` or `TypeError` (nothing written) for an
        unknown kind or a payload that is not JSON; on a failed write (a full disk) the file is
        cut back and nothing counts as written."""
        if self.failed is not None:
            raise self.failed
        data = self._encode(rows, self.seq, at, summary)
        if not self.size:  # a new journal: its first line says what it is
            data = MAGIC + data
        syncing = False
        try:
            written = os.pwrite(self._fd, data, self.size)
            if written != len(data):
                self._write_rest(data, written)
            syncing = sync
            if sync:
                os.fdatasync(self._fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self.size)
            error = StoreError(
                f"cannot write the run journal {self.path}: {exc}; nothing of this checkpoint "
                "was kept, and the run stops here (resume it once the cause is fixed)"
            )
            if syncing:  # a failed sync is final, as `sync`'s (earlier records may be lost)
                self.failed = error
            raise error from exc
        self.size += len(data)
        self.seq += len(rows)
        if summary is not None:
            self.summary = merge(self.summary, summary)
        return self.seq

    def _write_rest(self, data: bytes, written: int) -> None:
        """After a short write (only ever near a full disk), the rest of `data`, or ENOSPC."""
        while written < len(data):
            more = os.pwrite(self._fd, data[written:], self.size + written)
            if more == 0:
                raise OSError(errno.ENOSPC, "no space left on device")
            written += more

    def unlink(self) -> None:
        """Remove the file, still locked: a deleted run's journal, before its row goes (so a
        file no row names is never a deleted run's). Raises `StoreError` when it cannot be
        removed, the run then kept whole; a file gone already is no error. A taker who opened
        it meanwhile finds it unlinked (`take`)."""
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StoreError(
                f"cannot delete the run journal {self.path}: {exc}; the run was kept whole. "
                "Fix the folder's permissions (the store's process must be able to remove its "
                "files), then delete the run again"
            ) from exc

    def sync(self) -> None:
        """Wait until the disk has every record written so far (`fdatasync`), from any thread.

        Raises `StoreError` when it cannot say so: the journal was closed (what was written
        since its last sync may not be on the disk), or the sync failed. A failure is final:
        every later `sync` and `append` raises it too, as the kernel reports a lost write back
        once (a later sync could succeed without it)."""
        with self._io:
            if self.failed is not None:
                raise self.failed
            if self._fd < 0:
                raise StoreError(
                    f"the run journal {self.path} was closed before its last checkpoint reached "
                    "the disk (its store was closed); the run stops here: open the store again "
                    "and resume it"
                )
            try:
                os.fdatasync(self._fd)
            except OSError as exc:
                self.failed = StoreError(
                    f"cannot sync the run journal {self.path} to the disk: {exc}; what was "
                    "written since its last sync may be lost, and the run stops here (resume it "
                    "once the cause is fixed)"
                )
                raise self.failed from exc  # its cause kept for every later raise

    def close(self) -> None:
        """Release the lock and the file (twice is harmless), once a `sync` in flight ended."""
        with self._io:
            if self._fd >= 0:
                fd, self._fd = self._fd, -1
                os.close(fd)
