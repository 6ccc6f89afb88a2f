"""How a durable run waits for its store's disk without stopping the event loop.

At `synchronous="FULL"` a store writes a checkpoint at once and fsyncs it in a thread of its
own (`_durable/syncer.py`), calling back when the disk has it. `Durability` counts a journal's
commits on their way to the disk and lets the driver await them where the rules need them
(`Journal`: before a reply's calls start, before the next model call, before the run returns),
while the other runs on the loop go on; the first failure is raised there.

On asyncio the store's threads hand the news to the loop through its `_Inbox`: one
`loop.call_soon_threadsafe` (a write to the loop's self-pipe, far cheaper than a hop through
anyio's worker threads, which a journal's "started" marks once took: +45% CPU per turn) for
all the news that arrives before the loop takes it, however many runs it is for. On trio (no
asyncio loop) the news sets a `threading.Event` and the run waits for it in a worker thread.
A store that does not fsync gets no `Durability` at all: its commits are on their way nowhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections import deque

import anyio.to_thread

from .._errors import StoreError

__all__ = ["Durability"]


class _Inbox:
    """News for one event loop from the store's threads, handed over with one wake-up for all
    that came meanwhile."""

    __slots__ = ("__weakref__", "_loop", "_news", "_scheduled")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._news: deque[tuple[Durability, StoreError | None]] = deque()
        self._scheduled = False

    def put(self, durability: Durability, error: StoreError | None) -> None:
        """From any thread. (Under the GIL: news put after `_take` began is either taken by
        it or sees `_scheduled` false and schedules another.)"""
        self._news.append((durability, error))
        if not self._scheduled:
            self._scheduled = True
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody to tell
                self._loop.call_soon_threadsafe(self._take)

    def _take(self) -> None:
        self._scheduled = False
        news = self._news
        while news:
            durability, error = news.popleft()
            durability.done(error)


_inboxes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Inbox] = weakref.WeakKeyDictionary()


class Durability:
    """A journal's commits on their way to the disk: how many, and the first that failed."""

    __slots__ = (
        "_error",
        "_event",
        "_finished",
        "_inbox",
        "_lock",
        "_loop",
        "_thread",
        "_waiters",
        "_written",
    )

    def __init__(self) -> None:
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:  # not asyncio (trio): the news comes through a threading.Event
            self._loop = None
        self._lock = threading.Lock() if self._loop is None else None
        self._inbox: _Inbox | None = None
        if self._loop is not None:
            self._inbox = _inboxes.get(self._loop) or _inboxes.setdefault(
                self._loop, _Inbox(self._loop)
            )
        self._thread = threading.get_ident()
        self._event = threading.Event()
        self._written = 0
        """Commits handed to the store (counted once `append_many` returned)."""
        self._finished = 0
        """Commits the store said are on the disk, or failed."""
        self._error: StoreError | None = None
        self._waiters: list[asyncio.Future[None]] = []
        """Every task awaiting `settled` (parallel tool calls each await their result's
        commit before its event): all told once the disk has every commit."""

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
        if self._inbox is None or threading.get_ident() == self._thread:
            self.done(error)
        else:
            self._inbox.put(self, error)

    def done(self, error: StoreError | None) -> None:
        """The news of one commit, on the loop's thread (or trio's, any)."""
        if self._lock is None:
            self._finish(error)
            if self._waiters and self._finished >= self._written:
                for waiter in self._waiters:
                    if not waiter.done():
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
                waiter = self._loop.create_future()
                self._waiters.append(waiter)
                try:
                    await waiter
                finally:
                    self._waiters.remove(waiter)
        if self._error is not None:
            raise self._error

    async def _settled_in_thread(self, lock: threading.Lock) -> None:
        while True:
            with lock:
                if self._finished >= self._written:
                    return
                self._event.clear()
            await anyio.to_thread.run_sync(self._event.wait, abandon_on_cancel=True)
