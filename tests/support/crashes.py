"""The crash tests' kill-and-restart loop (`tests/durable/test_crash.py` for the embedded
store, `tests/dbos/test_crash.py` for DBOS): a durable run's process started, SIGKILLed after
a delay a seeded generator draws, and started again, until it finishes."""

from __future__ import annotations

import json
import random
import subprocess
import time
from collections.abc import Callable, Sequence
from typing import Any


def started(args: Sequence[str]) -> subprocess.Popen[bytes]:
    """The child process, once it printed "ready". Unbuffered: "ready" is read a byte at a
    time, so a result line the child printed right after it stays in the pipe for
    `communicate` (a buffered reader would swallow it)."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == b"ready", proc.stderr and proc.stderr.read()
    return proc


def run_until_done(
    start: Callable[[], subprocess.Popen[bytes]],
    rng: random.Random | None,
    span: float,
    *,
    most_kills: int,
    timeout: float,
) -> tuple[dict[str, Any], int, float]:
    """Start the run (`start`), killing it after a random delay each time, until it finishes.
    Returns the JSON the child printed last, the number of kills, and how long the last start
    ran (from "ready" to its exit). `rng` None: no kill (the uncrashed run).

    The delays are drawn within `span`, what an uncrashed run took on this machine just
    before: the first within its first half (so a run as fast as that one is killed at
    least once), the others anywhere in it (so late moments are hit too). At most
    `most_kills` kills, then the run may finish (within `timeout` seconds): on a loaded
    machine a start can take longer than any kill window, and the test must not depend on
    the machine."""
    kills = 0
    while True:
        proc = start()
        began = time.monotonic()
        window = span / 2 if kills == 0 else span
        delay = rng.uniform(0.0, window) if rng is not None and kills < most_kills else None
        try:
            out, err = proc.communicate(timeout=timeout if delay is None else delay)
        except subprocess.TimeoutExpired:
            if delay is None:
                raise
            proc.kill()  # SIGKILL
            proc.communicate()
            kills += 1
            continue
        assert proc.returncode == 0, err.decode()
        result = json.loads(out.decode().strip().splitlines()[-1])
        return result, kills, time.monotonic() - began
