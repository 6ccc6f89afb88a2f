"""How a durable run waits for its store's disk without stopping the event loop.

At `synchronous="FULL"` a store writes a checkpoint at once and fsyncs it in a thread of its
own (`_durable/syncer.py`), calling back when the disk has it. `Durability` counts a journal's
commits on their way to the disk and lets the driver await them where the rules need them
(`Journal`: before a reply's calls start, before the next model call, before the run returns),
while the other runs on the loop go on; the first failure is raised there.

On asyncio the store's thread hands the news to the loop (`loop.call_soon_threadsafe`: a
write to the loop's self-pipe, far cheaper than a hop through anyio's worker threads, which a
journal's "started" marks once took: +45% CPU per turn). On trio (no asyncio loop) the news
sets a `threading.Event` and the run waits for it in a worker thread. A store that does not
fsync gets no `Durability` at all: its commits are on their way nowhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

import anyio.to_thread

from .._errors import StoreError

__all__ = ["Durability"]


class Durability:
    """A journal's commits on their way to the disk: how many, and the first that failed."""

    __slots__ = (
        "_error", "_event", "_finished", "_lock", "_loop", "_thread", "_waiter", "_written"
    )

    def __init__(self) -> None:
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:  # not asyncio (trio): the news comes through a threading.Event
            self._loop = None
        self._lock = threading.Lock() if self._loop is None else None
        self._thread = threading.get_ident()
        self._event = threading.Event()
        self._written = 0
        """Commits handed to the store (counted once `append_many` returned)."""
        self._finished = 0
        """Commits the store said are on the disk, or failed."""
        self._error: StoreError | None = None
        self._waiter: asyncio.Future[None] | None = None

    @property
    def due(self) -> bool:
        """Whether a commit is still on its way to the disk, or one failed."""
        return self._finished < self._written or self._error is not None

    def sent(self) -> None:
        """One more commit on its way (called after the store took it, so a failed write,
        which calls back never, is not waited for)."""
        if self._lock is None:
            self._written += 1
        else:
            with self._lock:
                self._written += 1

    def then(self, error: StoreError | None) -> None:
        """The store's news of one commit, from its thread (`append_many(then=...)`), or
        from the loop's own (a commit the store synced as it wrote it)."""
        if self._loop is None or threading.get_ident() == self._thread:
            self._done(error)
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is left to tell
            self._loop.call_soon_threadsafe(self._done, error)

    def _done(self, error: StoreError | None) -> None:
        if self._lock is None:
            self._finish(error)
            waiter = self._waiter
            if waiter is not None and not waiter.done() and self._finished >= self._written:
                waiter.set_result(None)
            return
        with self._lock:
            self._finish(error)
            if self._finished >= self._written:
                self._event.set()

    def _finish(self, error: StoreError | None) -> None:
        self._finished += 1
        if error is not None and self._error is None:
            self._error = error

    async def settled(self) -> None:
        """Wait until every commit sent is on the disk; raise the `StoreError` of the first
        that is not (then every later call raises it: the run must stop)."""
        if self._lock is not None:
            await self._settled_in_thread(self._lock)
        elif self._loop is not None:
            while self._finished < self._written:
                self._waiter = waiter = self._loop.create_future()
                try:
                    await waiter
                finally:
                    self._waiter = None
        if self._error is not None:
            raise self._error

    async def _settled_in_thread(self, lock: threading.Lock) -> None:
        while True:
            with lock:
                if self._finished >= self._written:
                    return
                self._event.clear()
            await anyio.to_thread.run_sync(self._event.wait, abandon_on_cancel=True)
