"""Ctrl-C sent to a child process, every wait bounded: a child that never says it is ready,
or never exits after its SIGINT, fails the test with what it wrote on stderr and the stacks
of its threads (Python's `faulthandler`, made to dump them by a SIGABRT), never hangs it.

`ELSEWHERE` is code for the child to run first: another thread than the main one takes the
process's SIGINTs. Python still runs the handler in the main thread, but the signal interrupts
none of its waits: a Ctrl-C sent while the event loop sleeps in its selector (`Child.asleep`)
stops it only if the loop's wakeup fd wakes it (`agentkit/_run/loop.py`). That is what a
SIGINT that comes just before the loop blocks there does once in a few hundred; here, always.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NoReturn

import pytest

__all__ = ["ELSEWHERE", "WAIT", "Child", "agentkit_command"]

WAIT = 60.0
"""Seconds a child is given to be ready or to exit: generous, a hang's bound, not a speed."""

ELSEWHERE = (
    "import signal, threading\n"
    "threading.Thread(target=threading.Event().wait, name='takes-sigint', daemon=True).start()\n"
    "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})  # only that thread takes it\n"
)


def agentkit_command(*argv: str, elsewhere: bool = False) -> list[str]:
    """`python -m agentkit ARGV...`, its SIGINTs taken by another thread if `elsewhere`."""
    if not elsewhere:
        return [sys.executable, "-m", "agentkit", *argv]
    main = "import sys\nfrom agentkit.cli.main import main\nsys.exit(main(sys.argv[1:]))\n"
    return [sys.executable, "-c", ELSEWHERE + main, *argv]


class Child:
    """A child process whose stderr (and stdout if `merged`, else nothing of it) is read line
    by line as it comes, by a thread of its own."""

    def __init__(
        self, command: Sequence[str], cwd: Path, env: Mapping[str, str], *, merged: bool = False
    ) -> None:
        self.command = list(command)
        self.process = subprocess.Popen(
            self.command, cwd=cwd, env={**env, "PYTHONFAULTHANDLER": "1"},
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE if merged else subprocess.DEVNULL,
            stderr=subprocess.STDOUT if merged else subprocess.PIPE, text=True,
        )
        self._stream = self.process.stdout if merged else self.process.stderr
        self._lines: queue.Queue[str | None] = queue.Queue()  # None: its stderr ended
        self.err: list[str] = []
        """What it wrote (on stderr, and stdout if merged), as read so far."""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._stream is not None
        with self._stream:
            for line in self._stream:
                self._lines.put(line)
        self._lines.put(None)

    def wait_for(self, prefix: str) -> None:
        """Until it writes a line starting with `prefix` on stderr."""
        while True:
            try:
                line = self._lines.get(timeout=WAIT)
            except queue.Empty:
                self._fail(f"wrote no line starting with {prefix!r} within {WAIT:.0f} s")
            if line is None:
                self.process.wait()
                self._fail(f"exited ({self.process.returncode}) before a line starting with "
                           f"{prefix!r}")
            self.err.append(line)
            if line.startswith(prefix):
                return

    def asleep(self) -> None:
        """Until its main thread sleeps in its event loop's selector (`epoll`), so that a
        signal sent next comes while it waits. Read from Linux's `/proc` (polled: nothing
        tells it); without it (another system, a kernel that hides `wchan`), at once."""
        pid = self.process.pid
        wchan = Path(f"/proc/{pid}/task/{pid}/wchan")
        deadline = time.monotonic() + WAIT
        while True:
            try:
                where = wchan.read_text()
            except OSError:  # no /proc, or the process is gone (what it wrote tells why)
                return
            if "epoll" in where or where in ("", "0"):  # asleep there, or hidden
                return
            if time.monotonic() > deadline:
                self._fail(f"never slept in its event loop within {WAIT:.0f} s")
            time.sleep(0.001)

    def ctrl_c(self) -> tuple[int, str]:
        """Send it SIGINT; its exit code and what it wrote on stderr after."""
        before = len(self.err)
        self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            self._fail(f"did not exit within {WAIT:.0f} s of its Ctrl-C (SIGINT)")
        self._drain()
        return code, "".join(self.err[before:])

    def _drain(self) -> None:
        """The rest of its stderr, once it exited (its reader then ends)."""
        self._reader.join(WAIT)
        while not self._lines.empty() and (line := self._lines.get_nowait()) is not None:
            self.err.append(line)

    def _fail(self, what: str) -> NoReturn:
        """Make it dump its threads' stacks and die (SIGABRT, `faulthandler`), then fail
        with its stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGABRT if os.name == "posix" else signal.SIGTERM)
            try:
                self.process.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._drain()
        pytest.fail(f"{self.command} {what}; its stderr (with its stacks when it hung):\n"
                    + "".join(self.err), pytrace=False)
