"""Run a snippet in a fresh interpreter, for tests of calls that could freeze the process.

A denial-of-service regression (a regex that backtracks forever, a huge power) would hang the
test process itself, where not even pytest-timeout's signal can interrupt it (C code holding
the GIL). In a child, the test fails cleanly instead: the bound is generous (never a
measurement), it only turns "hangs for minutes" into a failure.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

BOUND = 60.0
"""Seconds a snippet may take; the fixed code takes well under one even on a loaded machine."""


def run_isolated(code: str, *, bound: float = BOUND, env: dict[str, str] | None = None) -> str:
    """Run `code` with `python -c`, return its stdout; fail the test if it outlives `bound`."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            capture_output=True,
            text=True,
            timeout=bound,
            env=env,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"the snippet was still running after {bound:g} s: the process froze")
    assert done.returncode == 0, done.stderr
    return done.stdout
