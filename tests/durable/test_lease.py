"""Who holds a run (`agentkit/_durable/lease.py`): the fields a header names its holder by.
Whether a holder still holds its run is the journal lock's business (`test_sqlite.py`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentkit._durable.lease import process_started, this_process

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="start times come from /proc"
)


def test_this_process_has_a_start_time_and_a_node() -> None:
    me = this_process()
    assert me.pid == os.getpid() and me.started == process_started(os.getpid())
    assert me.started is not None
    assert me.host in me.node and "pid:[" in me.node


def test_an_exited_process_has_no_start_time() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert process_started(child.pid) is None


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
    finally:
        child.communicate(b"\n")
