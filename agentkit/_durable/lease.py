"""Who holds a run, as its header names the holder: host, pid and the process's start time.

Whether the holder still holds it is not read from here: the holder keeps a lock on the run's
journal (`log.py`), which the kernel frees when the process dies. These fields say who it is,
for people and errors. `node` (hostname, boot and pid namespace) says where a pid means the
same process; the start time (field 22 of `/proc/<pid>/stat`, clock ticks since boot) tells a
reused pid from the holder.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Process", "process_started", "this_process"]

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
