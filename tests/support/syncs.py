"""A fake disk for the run store's fsync tests: `os.fdatasync` that records, holds or fails
the syncs asked for, so a test waits on events, never on durations."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

WAIT = 10.0
"""Seconds a step may take before the test fails (only reached when it is broken)."""


class Disk:
    """A fake `os.fdatasync`: records each sync (begun, ended) per file, holds the syncs of
    files named in `held` until `let_go` is set, fails those named in `failing`."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.held: set[str] = set()
        self.failing: set[str] = set()
        self.entered = threading.Event()
        self.let_go = threading.Event()
        self._real = os.fdatasync
        self._lock = threading.Lock()

    def __call__(self, fd: int) -> None:
        name = Path(os.readlink(f"/proc/self/fd/{fd}")).name
        self._note("begun", name)
        if name in self.held:
            self.entered.set()
            assert self.let_go.wait(WAIT)
        if name in self.failing:
            raise OSError(errno.EIO, "Input/output error")
        self._real(fd)
        self._note("ended", Path(os.readlink(f"/proc/self/fd/{fd}")).name)

    def _note(self, what: str, name: str) -> None:
        with self._lock:
            self.events.append((what, name))
