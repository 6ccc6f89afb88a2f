"""`Syncer`: a store's group commit, the journals' `fdatasync`s made in threads of its own.

At `synchronous="FULL"` a checkpoint must be on the disk before what depends on it goes on,
and an fsync waits for the disk (~2.5 ms on a VM's disk). Made where the record is written, on
the event loop, it would stop every run on the loop meanwhile. So the writer only writes (one
`pwrite`, cheap) and asks the syncer to say when the disk has it (`request`); the run awaits
that where the rules need it (`agentkit/_run/durability.py`). The rules it keeps:

- a waiter is told its journal is on the disk only after an `fdatasync` of it that began after
  the waiter asked (so after its write), and never when that sync failed;
- one journal is synced by one thread at a time, and every waiter that asked meanwhile shares
  its next sync: many checkpoints, one fsync (group commit);
- different journals are synced in parallel, by up to `threads` threads: a file system commits
  concurrent fsyncs together (ext4's journal takes them in one commit and one disk flush);
- a failed sync fails its waiters, and every later one of that journal (`RunLog.sync`); a
  journal closed before its sync fails its waiters too (`RunLog.close` waits for a sync in
  flight, so no sync reaches a closed or reused fd);
- threads start when there is work and no idle thread, and end after `idle` seconds idle;
- while the disk answers every fsync within `FAST` (tmpfs, a disk with a power-safe cache),
  the writer makes it itself (`append`): a hop to a thread and back costs the loop more CPU
  (~35 µs here) than such a sync blocks it. One slower sync sends them all to the threads
  again, until `FAST_RUN` syncs in a row were fast.

Waiters are called in a syncer thread, outside its lock: they must be quick and not block
(the driver's hands the news to its event loop, `loop.call_soon_threadsafe`).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence

from agentkit._durable.journal import EntryKind, Summary
from agentkit._durable.log import RunLog
from agentkit._errors import StoreError

__all__ = ["FAST", "FAST_RUN", "THREADS", "Syncer", "Waiter"]

Waiter = Callable[[StoreError | None], None]
"""Called once with None (the journal is on the disk) or the `StoreError` saying why not."""
THREADS = 16
"""Syncs in parallel at most, per store (fsyncs wait for the disk, not the CPU)."""
FAST = 30e-6
"""Seconds: a sync (write included) this quick blocks the writer less than a thread hop."""
FAST_RUN = 16
"""Fast syncs in a row after which the writer makes them itself again."""
_clock = time.perf_counter


class Syncer:
    """Threads that `fdatasync` the journals waiters ask for, many waiters to one sync."""

    def __init__(self, *, threads: int = THREADS, idle: float = 10.0) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._dirty: dict[RunLog, list[Waiter]] = {}
        """Journals to sync, in the order asked, with their waiters."""
        self._busy: set[RunLog] = set()
        """Journals being synced now (asked again meanwhile, they wait in `_dirty`)."""
        self._queued = 0
        """Journals in `_dirty` a thread may take (not busy)."""
        self._threads = 0
        self._idle = 0
        self._max = threads
        self._idle_seconds = idle
        self._closed = False
        self._fast = 0
        self.inline = False
        """Whether the writer syncs itself (the disk answered the last `FAST_RUN` in `FAST`)."""

    def append(
        self,
        log: RunLog,
        rows: Sequence[tuple[EntryKind, object]],
        at: float,
        summary: Summary | None,
        then: Waiter,
    ) -> tuple[int, bool]:
        """Write `rows` to `log` (`RunLog.append`, which raises as it does) and have `then`
        told when the disk has them: (the last seq, whether it has them already: synced
        here while the disk is fast; else `request`ed)."""
        if not self.inline:
            seq = log.append(rows, at, summary, sync=False)
            self.request(log, then)
            return seq, False
        began = _clock()
        seq = log.append(rows, at, summary, sync=True)
        self._timed(_clock() - began)
        return seq, True

    def _timed(self, seconds: float) -> None:
        if seconds > FAST:
            self.inline, self._fast = False, 0
        else:
            self._fast += 1
            self.inline = self._fast >= FAST_RUN

    def request(self, log: RunLog, then: Waiter) -> None:
        """Call `then` once everything written to `log` so far is on the disk (None) or cannot
        be (the `StoreError`), from a syncer thread."""
        with self._cond:
            waiters = self._dirty.get(log)
            if waiters is not None:  # its next sync is due already: this waiter shares it
                waiters.append(then)
                return
            self._dirty[log] = [then]
            if log in self._busy:  # its thread takes it again when its sync ends
                return
            self._queued += 1
            self._wake()

    def _wake(self) -> None:
        """A thread for the queued work: an idle one, else a new one (under the lock)."""
        if self._queued > self._idle and self._threads < self._max:
            self._threads += 1
            threading.Thread(target=self._work, name="agentkit-syncer", daemon=True).start()
        else:
            self._cond.notify()

    def _next(self) -> RunLog | None:
        """The first journal asked for that no thread syncs now (under the lock)."""
        if self._queued:
            for log in self._dirty:
                if log not in self._busy:
                    return log
        return None

    def _work(self) -> None:
        cond = self._cond
        while True:
            with cond:
                log = self._next()
                while log is None:
                    if self._closed:
                        self._threads -= 1
                        return
                    self._idle += 1
                    woken = cond.wait(self._idle_seconds)
                    self._idle -= 1
                    log = self._next()
                    if log is None and not woken:
                        self._threads -= 1
                        return
                waiters = self._dirty.pop(log)
                self._busy.add(log)
                self._queued -= 1
            error: StoreError | None = None
            began = _clock()
            try:
                log.sync()
            except StoreError as exc:
                error = exc
            self._timed(_clock() - began)
            with cond:
                self._busy.discard(log)
                if log in self._dirty:  # asked again meanwhile: takeable now
                    self._queued += 1
                    if self._queued > 1:
                        self._wake()  # this thread takes one; another may take the rest
            for then in waiters:
                with contextlib.suppress(Exception):  # the waiter's own failure is its own
                    then(error)

    def close(self) -> None:
        """Let the threads end once no work is left (the store is closing)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
