"""The event loops agentkit starts for synchronous callers (`Agent.run_sync`, the command line,
`Recipe.main`, `agentkit mcp serve`): `run_loop`, and `wakes_on_ctrl_c`, which makes a Ctrl-C
always reach the loop.

Why: Python runs a signal's handler in the main thread, between two bytecodes. asyncio's
runner installs its Ctrl-C handler (cancel the main task) with `signal.signal` and no wakeup
fd, so the handler waits for the loop's thread to run Python code. A SIGINT that interrupts no
wait of that thread (it came after its last check for signals, just before it blocked in the
selector, or another thread took it) left the loop asleep until its next timer or I/O: forever
when none was due, the run never stopped (an `agentkit runs resume` whose tool waited, one
Ctrl-C in a few hundred). Python's C handler also writes the signal's number to the wakeup
fd, whichever thread takes the signal: a socket the loop reads wakes it, and the handler runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import threading
from collections.abc import Awaitable, Callable, Generator
from typing import TypeVar, TypeVarTuple

__all__ = ["run_loop", "wakes_on_ctrl_c"]

_T = TypeVar("_T")
_Args = TypeVarTuple("_Args")


def run_loop(func: Callable[[*_Args], Awaitable[_T]], *args: *_Args) -> _T:
    """`anyio.run(func, *args)`, stopped by a Ctrl-C whenever it comes (`wakes_on_ctrl_c`)."""
    import anyio

    async def woken() -> _T:
        with wakes_on_ctrl_c():
            return await func(*args)

    return anyio.run(woken)


@contextlib.contextmanager
def wakes_on_ctrl_c() -> Generator[None]:
    """While the block runs, a signal with a Python handler (Ctrl-C's) wakes the running
    asyncio loop, so the handler runs at once. Nothing is done off the main thread (Python
    runs handlers, and sets the wakeup fd, only there), outside asyncio (trio wakes itself),
    on a loop that reads no sockets (a proactor, which sets its own wakeup fd), or when a
    wakeup fd is set already (asyncio's `add_signal_handler` sets its loop's): it is kept."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if loop is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    reader, writer = socket.socketpair()
    with reader, writer:
        reader.setblocking(False)
        writer.setblocking(False)
        if not _watched(loop, reader):
            yield
            return
        try:
            former = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
            if former != -1:  # someone else's: theirs wakes whom it must
                signal.set_wakeup_fd(former)
                yield
                return
            try:
                yield
            finally:
                now = signal.set_wakeup_fd(-1)
                if now != writer.fileno():  # set since (asyncio's `add_signal_handler`): kept
                    signal.set_wakeup_fd(now)
        finally:
            loop.remove_reader(reader.fileno())


def _watched(loop: asyncio.AbstractEventLoop, reader: socket.socket) -> bool:
    """Have `loop` read `reader`; False when it reads no sockets (a proactor)."""
    try:
        loop.add_reader(reader.fileno(), _drain, reader)
    except NotImplementedError:
        return False
    return True


def _drain(reader: socket.socket) -> None:
    """Read the signal numbers written: their handlers run on their own; waking was the point."""
    with contextlib.suppress(BlockingIOError, InterruptedError):
        while reader.recv(4096):
            pass
