"""Who holds a run (`agentkit/_durable/lease.py`): process start times, liveness, and when a
lease is free."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentkit._durable.lease import is_alive, is_free, process_started, this_process

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="start times and liveness come from /proc"
)
NOW = 1_800_000_000.0


def test_this_process_is_alive_and_has_a_start_time() -> None:
    me = this_process()
    assert me.pid == os.getpid() and me.started == process_started(os.getpid())
    assert me.started is not None and is_alive(me.pid, me.started)
    assert me.host in me.node and "pid:[" in me.node
    assert not is_alive(me.pid, me.started + 1)  # a reused pid is another process


def test_an_exited_process_is_dead_zombie_or_reaped() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    started = process_started(child.pid)
    # Wait for the exit without reaping it: the child is a zombie until `wait`.
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
    assert not is_alive(child.pid, started)
    child.wait()
    assert not is_alive(child.pid, started) and process_started(child.pid) is None


def test_a_command_name_with_spaces_and_parentheses_is_parsed() -> None:
    rename = "open('/proc/self/comm', 'w').write('x) (y z'); print(flush=True); input()"
    child = subprocess.Popen(
        [sys.executable, "-c", rename], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        started = process_started(child.pid)
        assert child.stdout is not None and child.stdout.readline() == b"\n"
        assert Path(f"/proc/{child.pid}/comm").read_text() == "x) (y z\n"
        assert started is not None and process_started(child.pid) == started
        assert is_alive(child.pid, started)
    finally:
        child.communicate(b"\n")


def test_when_a_lease_is_free() -> None:
    me = this_process()

    def free(node: str | None, pid: int | None, expires: float | None) -> bool:
        return is_free(node=node, pid=pid, started=me.started, expires=expires, now=NOW, me=me)

    assert not free(me.node, me.pid, NOW + 1)
    assert free(me.node, me.pid, NOW)  # expired
    assert free(None, None, None)  # released
    # On another machine (or pid namespace) its pid means nothing here: only expiry frees it.
    assert not free("other-host/boot/pid:[1]", 2**22 + 1, NOW + 1)
