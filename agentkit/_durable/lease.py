"""Who holds a run, and whether that holder is still alive.

A lease names its holder by host, pid and the process's start time, and expires unless it is
renewed. It is free when it expired, or when its holder ran on this machine and is dead, so
the restart of a SIGKILLed process resumes its run at once instead of waiting out the lease.

"This machine" means the same hostname, boot and pid namespace (`node`): only there does a pid
name the same process. The start time (field 22 of `/proc/<pid>/stat`, clock ticks since
boot) tells a reused pid from the holder. Off Linux there is no start time: a pid that exists
counts as alive on POSIX, and on other systems only expiry frees a lease.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Process", "is_alive", "is_free", "process_started", "this_process"]

PROC = Path("/proc")


@dataclass(frozen=True, slots=True)
class Process:
    """A process as a lease records it."""

    host: str
    """The hostname, shown in errors."""
    node: str
    """Where pids mean the same thing: hostname, boot id and pid namespace."""
    pid: int
    started: int | None
    """Start time in clock ticks since boot (Linux), None where unknown."""


def this_process() -> Process:
    """The calling process, computed once per pid (a forked child is another process; reading
    /proc for it costs ~50 µs, too much for every claim)."""
    pid = os.getpid()
    me = _ME.get(pid)
    if me is None:
        host = socket.gethostname()
        me = _ME[pid] = Process(host=host, node=_node(host), pid=pid, started=process_started(pid))
    return me


_ME: dict[int, Process] = {}


def _node(host: str) -> str:
    try:
        boot = (PROC / "sys/kernel/random/boot_id").read_text().strip()
        namespace = os.readlink(PROC / "self/ns/pid")
    except OSError:
        return host
    return f"{host}/{boot}/{namespace}"


def _stat_fields(pid: int) -> list[str] | None:
    """Fields 3… of `/proc/<pid>/stat` (after the command name, which may hold spaces and
    parentheses), or None if there is no such process."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def process_started(pid: int) -> int | None:
    """The start time of process `pid` (field 22 of its stat line), None if unknown."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields is not None and len(fields) > 19 else None


def is_alive(pid: int, started: int | None) -> bool:
    """Whether process `pid`, started at `started`, still runs on this machine."""
    if PROC.joinpath("self/stat").exists():
        fields = _stat_fields(pid)
        # A zombie (Z) or dying (X) process has exited; only its parent has not reaped it.
        if fields is None or fields[0] in ("Z", "X"):
            return False
        return started is None or int(fields[19]) == started
    if os.name != "posix":
        return True  # no safe probe (os.kill would terminate the process on Windows)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def is_free(
    *,
    node: str | None,
    pid: int | None,
    started: int | None,
    expires: float | None,
    now: float,
    me: Process,
) -> bool:
    """Whether a lease with these holder fields can be taken by `me` at time `now`."""
    if node is None or pid is None or expires is None or expires <= now:
        return True
    return node == me.node and not is_alive(pid, started)
